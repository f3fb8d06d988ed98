// The signed-in session: identity's Login gives an access token (short-lived, kept in memory) and a
// refresh token (kept in sessionStorage, so a reload stays signed in but closing the tab signs out).
// The access token is refreshed quietly a minute before it expires, and on any 401. Roles come from
// the token's `roles` claim and decide what the console shows; the API enforces them regardless.
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "./api/errors";

export type Role = "student" | "teacher" | "facilitator" | "mentor" | "caregiver" | "admin" | "operator" | "service";

export interface User {
  id: string;
  email: string;
  name: string;
  tenantId: string;
  tenant: string;
  roles: Role[];
}

interface Tokens {
  accessToken?: string;
  refreshToken?: string;
  expiresIn?: number;
}

const REFRESH_KEY = "learnflow.refresh";
const USER_KEY = "learnflow.user";

function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

class Session {
  private access = "";
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<boolean> | null = null;
  private listeners = new Set<() => void>();
  user: User | null = null;

  constructor() {
    const saved = sessionStorage.getItem(USER_KEY);
    if (saved && sessionStorage.getItem(REFRESH_KEY)) this.user = JSON.parse(saved) as User;
  }

  accessToken(): string {
    return this.access;
  }

  has(...roles: Role[]): boolean {
    return !!this.user && roles.some((r) => this.user!.roles.includes(r));
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  private store(tokens: Tokens, tenant: string, name?: string): void {
    this.access = tokens.accessToken ?? "";
    if (tokens.refreshToken) sessionStorage.setItem(REFRESH_KEY, tokens.refreshToken);
    const c = claims(this.access);
    this.user = {
      id: String(c.sub),
      email: String(c.email ?? ""),
      name: name ?? this.user?.name ?? String(c.email ?? ""),
      tenantId: String(c.tid ?? ""),
      tenant,
      roles: ((c.roles as string[]) ?? []) as Role[],
    };
    sessionStorage.setItem(USER_KEY, JSON.stringify(this.user));
    clearTimeout(this.timer);
    const seconds = Math.max(5, (tokens.expiresIn ?? 300) - 60);
    this.timer = setTimeout(() => void this.refresh(), seconds * 1000);
    this.changed();
  }

  async login(tenant: string, email: string, password: string): Promise<void> {
    const response = await fetch("/v1/auth:login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenant, email, password }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, body, response.headers.get("retry-after"));
    this.store(body.tokens, tenant, body.user?.displayName);
  }

  /** A new access token from the refresh token; false (and signed out) when that is no longer valid. */
  refresh(): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    const token = sessionStorage.getItem(REFRESH_KEY);
    if (!token) return Promise.resolve(false);
    this.refreshing = (async () => {
      try {
        const response = await fetch("/v1/auth:refresh", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refreshToken: token }),
        });
        if (response.status === 400 || response.status === 401 || response.status === 403) {
          this.logout();
          return false;
        }
        if (!response.ok) return false; // the server is unwell: keep the session, try again later
        const body = await response.json();
        this.store(body.tokens, this.user?.tenant ?? "");
        return true;
      } catch {
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  logout(): void {
    clearTimeout(this.timer);
    this.access = "";
    this.user = null;
    sessionStorage.removeItem(REFRESH_KEY);
    sessionStorage.removeItem(USER_KEY);
    this.changed();
  }
}

export const session = new Session();

/** The signed-in user; re-renders the component when the session changes. */
export function useUser(): User | null {
  const [, tick] = useState(0);
  useEffect(() => session.subscribe(() => tick((n) => n + 1)), []);
  return session.user;
}
