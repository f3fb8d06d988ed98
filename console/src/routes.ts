// Every page of the console: its path, its title (nav and <h1>), who sees it, and its code, loaded on
// first visit (lazy) so the first page ships only what it needs. Each area keeps its pages in its own
// folder and lists them in its own routes.ts; this file only gathers them.
import type { RouteDef } from "./route-def";
import { routes as student } from "./pages/student/routes";
import { routes as teacher } from "./pages/teacher/routes";
import { routes as mtss } from "./pages/mtss/routes";
import { routes as admin } from "./pages/admin/routes";
import { routes as ops } from "./pages/ops/routes";
import { routes as apiDocs } from "./pages/api/routes";

export const AREAS: { name: string; routes: RouteDef[] }[] = [
  { name: "Learn", routes: student },
  { name: "Teach", routes: teacher },
  { name: "MTSS", routes: mtss },
  { name: "Administer", routes: admin },
  { name: "Operate", routes: ops },
  { name: "Build", routes: apiDocs },
];

export const ALL_ROUTES: RouteDef[] = AREAS.flatMap((a) => a.routes);
