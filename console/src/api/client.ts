// The typed REST client: openapi-fetch over the types openapi-typescript generates from the project's
// OpenAPI document (schema.d.ts; tests/console fails when it is stale). Every call carries the access
// token; a 401 refreshes the token once, quietly, and retries; any other failure becomes an ApiError.
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import { ApiError } from "./errors";
import { session } from "../auth";

export const api = createClient<paths>({ baseUrl: "" });

const auth: Middleware = {
  async onRequest({ request }) {
    const token = session.accessToken();
    if (token && !request.headers.has("authorization")) request.headers.set("authorization", `Bearer ${token}`);
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status === 401 && !request.url.includes("/v1/auth:") && (await session.refresh())) {
      const retry = new Request(request, { headers: new Headers(request.headers) });
      retry.headers.set("authorization", `Bearer ${session.accessToken()}`);
      return fetch(retry);
    }
    return response;
  },
};
api.use(auth);

/** The data of an openapi-fetch result, or an ApiError thrown with the API's own words. */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (!response.ok || error !== undefined) {
    throw new ApiError(response.status, error, response.headers.get("retry-after"));
  }
  return data as T;
}
