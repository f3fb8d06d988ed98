import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

export const routes: RouteDef[] = [
  { path: "/learn/ask", title: "Ask the tutor", roles: ["student"], nav: true, component: lazy(() => import("./Ask")) },
];
