// Server-sent events from the API (Envoy's transcoder writes a server stream as `data: {json}`
// events). EventSource cannot send an Authorization header, so this reads the stream with fetch.
import { ApiError } from "./errors";
import { session } from "../auth";

export async function* streamEvents<T>(path: string, signal: AbortSignal): AsyncGenerator<T> {
  const open = () =>
    fetch(path, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${session.accessToken()}` },
      signal,
    });
  let response = await open();
  if (response.status === 401 && (await session.refresh())) response = await open();
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, await response.json().catch(() => ({})));
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data) yield JSON.parse(data) as T;
    }
  }
}
