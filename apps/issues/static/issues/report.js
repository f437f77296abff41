// The resident form's map: tap to pin; "use my location" asks the browser's GPS.
(function () {
  "use strict";
  var marker = null;
  var lon = document.getElementById("lon");
  var lat = document.getElementById("lat");

  function place(map, latlng) {
    lon.value = latlng.lng.toFixed(6);
    lat.value = latlng.lat.toFixed(6);
    if (marker) { marker.setLatLng(latlng); } else { marker = L.marker(latlng).addTo(map); }
  }

  function showGrids(map, url) {
    // Grid outlines so a resident can find their place on a map without a basemap.
    fetch(url).then(function (r) { return r.ok ? r.json() : null; }).then(function (fc) {
      if (!fc || !fc.features || !fc.features.length) { return; }
      var layer = L.geoJSON(fc, {
        interactive: false,
        style: { color: "#b91c1c", weight: 1, fillOpacity: 0.04 },
      }).addTo(map);
      if (!marker) { map.fitBounds(layer.getBounds()); }
    });
  }

  window.issuesPickInit = function (map) {
    var el = document.getElementById("pick-wrap");
    if (el.dataset.gridsUrl) { showGrids(map, el.dataset.gridsUrl); }
    map.on("click", function (e) { place(map, e.latlng); });
    if (lon.value && lat.value && !isNaN(+lon.value) && !isNaN(+lat.value)) {
      place(map, L.latLng(+lat.value, +lon.value));
    }
    document.getElementById("use-gps").addEventListener("click", function () {
      if (!navigator.geolocation) { return; }
      navigator.geolocation.getCurrentPosition(function (pos) {
        var ll = L.latLng(pos.coords.latitude, pos.coords.longitude);
        place(map, ll);
        map.setView(ll, 17);
      });
    });
  };
})();
