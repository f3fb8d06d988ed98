import type { User } from "../auth";
import { visible } from "../route-def";
import { AREAS } from "../routes";
import { Page } from "../ui/page";

/** What this account can do, by area: every page its roles open. */
export function Home({ user }: { user: User }) {
  const areas = AREAS.map((a) => ({ ...a, routes: a.routes.filter((r) => r.nav && visible(r, user)) })).filter(
    (a) => a.routes.length > 0,
  );
  return (
    <Page title={`Welcome, ${user.name}`}>
      <div class="cards">
        {areas.map((a) => (
          <article key={a.name}>
            <header><h2>{a.name}</h2></header>
            <ul>
              {a.routes.map((r) => (
                <li key={r.path}><a href={r.path}>{r.title}</a></li>
              ))}
            </ul>
          </article>
        ))}
      </div>
    </Page>
  );
}
