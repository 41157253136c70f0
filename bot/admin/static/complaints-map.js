// The staff complaints map: markers from the page's JSON (#map-data),
// coloured by state, clustered where dense; a marker's card links to the
// complaint. Tiles come from the configured host; when they cannot load
// (no internet) the markers still show on a blank background.
(function () {
  "use strict";
  var holder = document.getElementById("complaint-map");
  var source = document.getElementById("map-data");
  if (!holder || !source || typeof L === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var map = L.map(holder, { scrollWheelZoom: true });
  if (data.tiles) {
    L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution }).addTo(map);
  }

  function card(m) {
    // Built from text nodes: a complaint's words never become markup.
    var box = document.createElement("div");
    box.className = "map-card";
    var title = document.createElement("strong");
    title.textContent = m.ref;
    box.appendChild(title);
    var state = document.createElement("span");
    state.className = "pill status-" + m.status;
    state.textContent = m.status_label;
    box.appendChild(document.createTextNode(" "));
    box.appendChild(state);
    var facts = document.createElement("div");
    facts.className = "muted small";
    facts.textContent = m.kind + " · " + m.category + " · " + m.created;
    box.appendChild(facts);
    if (m.outside) {
      var flag = document.createElement("div");
      flag.className = "map-outside-flag";
      flag.textContent = data.outside;
      box.appendChild(flag);
    }
    var text = document.createElement("p");
    text.textContent = m.text;
    box.appendChild(text);
    var link = document.createElement("a");
    link.href = m.url;
    link.textContent = data.open;
    box.appendChild(link);
    return box;
  }

  var cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 });
  var points = [];
  data.markers.forEach(function (m) {
    var icon = L.divIcon({
      className: "map-marker status-" + m.status + (m.outside ? " outside" : ""),
      iconSize: [18, 18], iconAnchor: [9, 9], popupAnchor: [0, -9], html: ""
    });
    var marker = L.marker([m.lat, m.lon], { icon: icon, title: m.ref, alt: m.ref, keyboard: true });
    marker.bindPopup(function () { return card(m); });
    cluster.addLayer(marker);
    points.push([m.lat, m.lon]);
  });
  map.addLayer(cluster);

  if (data.bounds) {
    map.fitBounds(data.bounds);
  } else if (points.length) {
    map.fitBounds(points, { maxZoom: 16, padding: [20, 20] });
  } else {
    map.setView([0, 0], 2);
  }
}());
