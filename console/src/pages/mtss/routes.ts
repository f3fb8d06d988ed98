// MTSS staff pages (issue #17, item 4): programs, their calendar, attendance, each student's progress.
// Teachers and admins manage programs; facilitators take attendance and record progress for their
// own sessions (docs/mtss.md, Roles): the API enforces it, these lists only decide what is shown.
import { lazy } from "preact-iso";
import type { RouteDef } from "../../route-def";

export const routes: RouteDef[] = [
  { path: "/mtss/programs", title: "Intervention programs", roles: ["teacher", "facilitator", "admin"], nav: true, component: lazy(() => import("./Programs")) },
  { path: "/mtss/programs/new", title: "New program", roles: ["teacher", "admin"], nav: true, component: lazy(() => import("./NewProgram")) },
  { path: "/mtss/programs/:id", title: "Program", roles: ["teacher", "facilitator", "admin"], component: lazy(() => import("./Program")) },
  { path: "/mtss/programs/:id/calendar", title: "Program calendar", roles: ["teacher", "facilitator", "admin"], component: lazy(() => import("./Calendar")) },
  { path: "/mtss/programs/:id/sessions/:sessionId/attendance", title: "Take attendance", roles: ["teacher", "facilitator", "admin"], component: lazy(() => import("./Attendance")) },
  { path: "/mtss/programs/:id/students/:studentId", title: "Student progress", roles: ["teacher", "facilitator", "admin"], component: lazy(() => import("./Student")) },
];
