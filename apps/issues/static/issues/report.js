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

  window.issuesPickInit = function (map) {
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
