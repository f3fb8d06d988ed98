// The console's build (docs/console.md). `learnflow console build` runs it with Node from PyPI.
import { gzipSync } from "node:zlib";
import { readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { defineConfig, type Plugin } from "vite";

// Writes a .gz beside every text asset; the console's static server (services/runtime/console.py)
// sends it to browsers that accept gzip, so nothing is compressed per request.
function precompress(): Plugin {
  return {
    name: "learnflow-precompress",
    apply: "build",
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((n) => {
          const p = join(dir, n);
          return statSync(p).isDirectory() ? walk(p) : [p];
        });
      for (const file of walk("dist")) {
        if (/\.(js|css|html|svg|json)$/.test(file)) {
          writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
        }
      }
    },
  };
}

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { target: "es2022", sourcemap: true, reportCompressedSize: false, chunkSizeWarningLimit: 600 },
  plugins: [precompress()],
  // `npm run dev` against `make up`'s mesh: the API on the same origin, as Envoy gives it in production.
  server: { proxy: { "/v1": "http://127.0.0.1:8080" } },
});
