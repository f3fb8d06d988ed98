import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

// Each page is its own chunk: CodeMirror (in Code and Exercises) loads only when one of them opens.
export const routes: RouteDef[] = [
  { path: "/learn/ask", title: "Ask the tutor", roles: ["student"], nav: true, component: lazy(() => import("./Ask")) },
  { path: "/learn/code", title: "Code editor", roles: ["student"], nav: true, component: lazy(() => import("./Code")) },
  { path: "/learn/exercises", title: "Exercises", roles: ["student"], nav: true, component: lazy(() => import("./Exercises")) },
  { path: "/learn/progress", title: "My progress", roles: ["student"], nav: true, component: lazy(() => import("./Progress")) },
  { path: "/learn/inbox", title: "Inbox", roles: ["student"], nav: true, component: lazy(() => import("./Inbox")) },
];
