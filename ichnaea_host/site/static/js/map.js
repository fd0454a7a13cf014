// The coverage map: our tiles over an optional base map, with the view kept
// in the URL (#zoom/lat/lng) so that a link shows the same place.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) {
    return;
  }
  var map = L.map(el, {
    center: [35, 9],
    zoom: 2,
    minZoom: 1,
    maxZoom: 12,
    maxBounds: [[-85.0511, -210], [85.0511, 210]],
    worldCopyJump: true
  });
  if (el.dataset.basemapUrl) {
    L.tileLayer(el.dataset.basemapUrl, {
      maxZoom: 19,
      attribution: el.dataset.basemapAttribution || ""
    }).addTo(map);
  }
  L.tileLayer(el.dataset.tilesUrl, {
    maxNativeZoom: 11,
    maxZoom: 12,
    tileSize: 256,
    className: "coverage-tiles"
  }).addTo(map);
  L.control.scale().addTo(map);

  function readHash() {
    var parts = window.location.hash.replace(/^#/, "").split("/").map(Number);
    if (parts.length === 3 && parts.every(isFinite)) {
      map.setView([parts[1], parts[2]], parts[0]);
    }
  }
  function writeHash() {
    var c = map.getCenter();
    var hash = "#" + map.getZoom() + "/" + c.lat.toFixed(4) + "/" + c.lng.toFixed(4);
    if (window.location.hash !== hash) {
      window.history.replaceState(null, "", hash);
    }
  }
  readHash();
  map.on("moveend", writeHash);
  window.addEventListener("hashchange", readHash);

  var Locate = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "leaflet-bar");
      var button = L.DomUtil.create("button", "map-locate", box);
      button.type = "button";
      button.textContent = "My position";
      button.title = "Show my position";
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(button, "click", function () {
        map.locate({ setView: true, maxZoom: 12 });
      });
      return box;
    }
  });
  new Locate().addTo(map);
  map.on("locationerror", function () {
    var popup = L.popup({ closeButton: true, className: "map-message" });
    popup.setLatLng(map.getCenter()).setContent("Your position is not available.").openOn(map);
  });
  window.coverageMap = map;
})();
