// A tiny branching-video player: plays the graph of graph.json with one
// <video> element, shows each hotspot during its time window, and reports
// to pathlens through the tracker the pathlens server serves at /pathlens.js.
//
// The clips are made here, at load: each node's is a canvas animation
// recorded with MediaRecorder, so the example needs no media files.
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  var endpoint = (params.get("endpoint") || location.origin).replace(/\/+$/, "");
  var key = params.get("key");
  var video = document.getElementById("video");
  var hotspotBar = document.getElementById("hotspots");
  var playButton = document.getElementById("play");
  var statusLine = document.getElementById("status");

  var graph = null;
  var clips = {}; // node id → object URL of its recorded clip
  var current = null; // the node playing
  var played = 0; // seconds played in the current node
  var lastTime = 0;
  var lastReport = 0;

  function status(text) {
    statusLine.textContent = text;
    document.body.dataset.status = text;
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(script);
    });
  }

  // Records `ms` of an animation naming the node, as WebM.
  function recordClip(node, index) {
    var canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 180;
    var g = canvas.getContext("2d");
    var hue = (index * 97) % 360;
    var stream = canvas.captureStream(25);
    var recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
    var chunks = [];
    recorder.ondataavailable = function (e) { if (e.data.size) chunks.push(e.data); };
    var started = performance.now();
    function draw() {
      var t = performance.now() - started;
      g.fillStyle = "hsl(" + hue + ", 60%, 35%)";
      g.fillRect(0, 0, canvas.width, canvas.height);
      g.fillStyle = "#fff";
      g.font = "bold 28px sans-serif";
      g.fillText(node.name, 20, 80);
      g.font = "18px monospace";
      g.fillText((t / 1000).toFixed(1) + " s", 20, 120);
      g.fillRect(0, 170, canvas.width * Math.min(1, t / node.duration_ms), 10);
    }
    return new Promise(function (resolve) {
      recorder.onstop = function () {
        resolve(URL.createObjectURL(new Blob(chunks, { type: "video/webm" })));
      };
      draw();
      recorder.start(250);
      var timer = setInterval(draw, 40);
      setTimeout(function () {
        clearInterval(timer);
        draw();
        recorder.stop();
      }, node.duration_ms);
    });
  }

  function node(id) {
    return graph.nodes.find(function (n) { return n.id === id; });
  }

  function showHotspots() {
    var ms = video.currentTime * 1000;
    var ended = video.ended;
    var visible = (current.hotspots || []).filter(function (h) {
      return (ms >= h.start_ms && ms <= h.end_ms) || (ended && h.behavior.type === "go_to_node");
    });
    var ids = visible.map(function (h) { return h.id; }).join(",");
    if (hotspotBar.dataset.ids === ids) return;
    hotspotBar.dataset.ids = ids;
    hotspotBar.textContent = "";
    visible.forEach(function (h) {
      var button = document.createElement("button");
      button.textContent = h.label;
      button.dataset.hotspot = h.id;
      button.onclick = function () { click(h); };
      hotspotBar.appendChild(button);
    });
  }

  function click(hotspot) {
    var behavior = hotspot.behavior;
    if (behavior.type === "go_to_node") {
      Pathlens.hotspotClick(hotspot.id, { toNodeId: behavior.node_id, position: video.currentTime });
      enter(behavior.node_id);
    } else if (behavior.type === "go_to_url") {
      Pathlens.hotspotClick(hotspot.id, { url: behavior.url, position: video.currentTime });
      status("link: " + behavior.url);
    } else {
      Pathlens.hotspotClick(hotspot.id, { position: video.currentTime });
      video.pause();
    }
  }

  function enter(id) {
    if (current) report();
    current = node(id);
    played = 0;
    lastTime = 0;
    lastReport = 0;
    Pathlens.nodeEnter(current.id, current.entry_id);
    video.src = clips[current.id];
    video.play();
    status("playing " + current.id);
    showHotspots();
  }

  function report() {
    Pathlens.progress(Math.min(video.currentTime, current.duration_ms / 1000), played);
    lastReport = played;
  }

  video.addEventListener("timeupdate", function () {
    var step = video.currentTime - lastTime;
    if (!video.paused && step > 0 && step < 1) played += step;
    lastTime = video.currentTime;
    if (played - lastReport >= 1) report(); // a view event each second of playback
    showHotspots();
  });

  video.addEventListener("ended", function () {
    report();
    Pathlens.end();
    var next = (current.hotspots || []).some(function (h) { return h.behavior.type === "go_to_node"; });
    status(next ? "choose: " + current.id : "finished");
    showHotspots();
  });

  playButton.onclick = function () {
    playButton.disabled = true;
    Pathlens.play();
    enter(graph.start_node);
  };

  Promise.all([
    fetch("graph.json").then(function (r) { return r.json(); }),
    loadScript(endpoint + "/pathlens.js")
  ]).then(function (loaded) {
    graph = loaded[0];
    Pathlens.init({
      endpoint: endpoint,
      key: key,
      videoId: params.get("video") || graph.id,
      userId: params.get("user") || undefined,
      partnerId: params.get("partner") || undefined
    });
    Pathlens.impression();
    return Promise.all(graph.nodes.map(function (n, i) {
      return recordClip(n, i).then(function (url) { clips[n.id] = url; });
    }));
  }).then(function () {
    playButton.disabled = false;
    status("ready");
  }).catch(function (error) {
    status("error: " + error.message);
  });
})();
