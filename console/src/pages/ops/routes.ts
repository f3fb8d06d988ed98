import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

// The operator's pages. Admins see them too: the ops and workflow APIs allow both roles (the API still
// decides per call, e.g. everyone's usage is for admins only).
const OPS: RouteDef["roles"] = ["operator", "admin"];

export const routes: RouteDef[] = [
  { path: "/ops/health", title: "Context health", roles: OPS, nav: true, component: lazy(() => import("./Health")) },
  { path: "/ops/dead", title: "Dead letters and jobs", roles: OPS, nav: true, component: lazy(() => import("./DeadLetters")) },
  { path: "/ops/workflows", title: "Workflow runs", roles: OPS, nav: true, component: lazy(() => import("./Runs")) },
  { path: "/ops/workflows/new", title: "Trigger a workflow", roles: OPS, nav: true, component: lazy(() => import("./Trigger")) },
  { path: "/ops/workflows/runs/:runId", title: "Workflow run", roles: OPS, component: lazy(() => import("./Run")) },
  { path: "/ops/usage", title: "Workflow usage", roles: OPS, nav: true, component: lazy(() => import("./Usage")) },
  { path: "/ops/activity", title: "Activity monitor", roles: OPS, nav: true, component: lazy(() => import("./Activity")) },
];
