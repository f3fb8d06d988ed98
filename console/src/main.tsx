import "@picocss/pico/css/pico.min.css";
import "./styles.css";
import { render } from "preact";
import { App } from "./app";
import { session } from "./auth";

// A reload keeps the refresh token (sessionStorage) but not the access token (memory): get a new one
// before the first page asks for data.
const ready = session.user && !session.accessToken() ? session.refresh() : Promise.resolve(true);
void ready.then(() => render(<App />, document.getElementById("app")!));
