// Policy authors' and admins' pages (issue #17 item 5). Each is loaded on its first visit, so the
// policy editor and the audit trail cost nothing to the pages that do not use them.
import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

export const routes: RouteDef[] = [
  { path: "/admin/policies", title: "Policies", roles: ["admin", "teacher"], nav: true, component: lazy(() => import("./Policies")) },
  { path: "/admin/policies/:policyId", title: "Policy", roles: ["admin", "teacher"], component: lazy(() => import("./Policy")) },
  { path: "/admin/messages", title: "Message log", roles: ["admin"], nav: true, component: lazy(() => import("./Messages")) },
  { path: "/admin/alerts", title: "Alert settings", roles: ["admin"], nav: true, component: lazy(() => import("./Alerts")) },
  { path: "/admin/audit", title: "Audit trail", roles: ["admin"], nav: true, component: lazy(() => import("./Audit")) },
  { path: "/admin/users", title: "Users", roles: ["admin"], nav: true, component: lazy(() => import("./Users")) },
  { path: "/admin/classes", title: "Classes", roles: ["admin"], nav: true, component: lazy(() => import("./Classes")) },
  { path: "/admin/tenants", title: "Tenants", roles: ["admin", "operator"], nav: true, component: lazy(() => import("./Tenants")) },
];
