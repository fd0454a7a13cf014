// Copies the browser builds of the site's libraries into the Python package's
// static folder, where the web app serves them (nothing loads from another host).
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "ichnaea_host", "site", "static", "vendor");
const files = {
  "leaflet/dist/leaflet.js": "leaflet/leaflet.js",
  "leaflet/dist/leaflet.css": "leaflet/leaflet.css",
  "leaflet/dist/images": "leaflet/images",
  "leaflet/LICENSE": "leaflet/LICENSE",
  "chart.js/dist/chart.umd.min.js": "chart.js/chart.umd.min.js",
  "chart.js/LICENSE.md": "chart.js/LICENSE.md",
  // MapLibre GL JS (ES modules: the library, its web worker and the shared
  // chunk they import), for vector-tile maps such as the coverage tiles'
  "maplibre-gl/dist/maplibre-gl.mjs": "maplibre-gl/maplibre-gl.mjs",
  "maplibre-gl/dist/maplibre-gl-worker.mjs": "maplibre-gl/maplibre-gl-worker.mjs",
  "maplibre-gl/dist/maplibre-gl-shared.mjs": "maplibre-gl/maplibre-gl-shared.mjs",
  "maplibre-gl/dist/maplibre-gl.css": "maplibre-gl/maplibre-gl.css",
  "maplibre-gl/LICENSE.txt": "maplibre-gl/LICENSE.txt",
};

rmSync(vendor, { recursive: true, force: true });
for (const [from, to] of Object.entries(files)) {
  mkdirSync(dirname(join(vendor, to)), { recursive: true });
  cpSync(join(here, "node_modules", from), join(vendor, to), { recursive: true });
}
// built files are not committed: `make` runs this step
writeFileSync(join(vendor, ".gitignore"), "*\n");
console.log(`copied ${Object.keys(files).length} library files to ${vendor}`);
