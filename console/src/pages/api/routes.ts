import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

// Everyone building on the API; every signed-in role may read the reference (roles: []).
export const routes: RouteDef[] = [
  { path: "/api", title: "API reference", roles: [], nav: true, component: lazy(() => import("./Reference")) },
];
