import type { ComponentType } from "preact";
import type { Role, User } from "./auth";

export interface RouteDef {
  /** preact-iso path, e.g. "/teacher/classes/:classId". */
  path: string;
  title: string;
  /** Who sees it in the navigation and may open it ([] = everyone signed in). */
  roles: Role[];
  /** Shown in the navigation (pages reached from another page, e.g. a detail, are not). */
  nav?: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  component: ComponentType<any>;
}

export function visible(route: RouteDef, user: User | null): boolean {
  return !!user && (route.roles.length === 0 || route.roles.some((r) => user.roles.includes(r)));
}
