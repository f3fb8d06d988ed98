import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

// Teachers (and admins, who see every class of the tenant). Each page is its own chunk.
export const routes: RouteDef[] = [
  { path: "/teach/classes", title: "My classes", roles: ["teacher", "admin"], nav: true, component: lazy(() => import("./Classes")) },
  { path: "/teach/classes/:classId", title: "Class", roles: ["teacher", "admin"], component: lazy(() => import("./ClassDetail")) },
  { path: "/teach/alerts", title: "Struggle alerts", roles: ["teacher", "admin"], nav: true, component: lazy(() => import("./Alerts")) },
  { path: "/teach/interventions", title: "Interventions", roles: ["teacher", "admin"], nav: true, component: lazy(() => import("./Interventions")) },
  { path: "/teach/students/:studentId", title: "Student progress", roles: ["teacher", "admin"], component: lazy(() => import("./StudentDetail")) },
];
