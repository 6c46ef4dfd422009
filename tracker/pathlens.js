/*! pathlens.js — reports a custom HTML5 player's viewing of an interactive
 * (branching) video to pathlens. No dependencies. API: see the README,
 * section "The JS tracker". */
(function (root) {
  "use strict";

  var BATCH_SIZE = 20; // events that trigger a send
  var FLUSH_MS = 2000; // longest an event waits in the queue
  var MAX_BATCH_BYTES = 60000; // keepalive requests carry at most 64 KiB

  var cfg = null; // {endpoint, key, videoId, userId, partnerId}
  var session = null; // {id, index, played, node, entry, clicked}
  var queue = [];
  var timer = null;
  var partnerWaiters = null; // events waiting for the partner id

  function randomId() {
    var c = root.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    var hex = "";
    for (var j = 0; j < 16; j++) hex += (bytes[j] + 256).toString(16).slice(1);
    return hex;
  }

  function url(path) {
    return cfg.endpoint.replace(/\/+$/, "") + path + "?key=" + encodeURIComponent(cfg.key);
  }

  function number(value) {
    return typeof value === "number" && isFinite(value) && value >= 0 ? Math.round(value * 1000) / 1000 : undefined;
  }

  // Queues one event of `kind` with the session's next index.
  function track(kind, fields) {
    if (!session) throw new Error("Pathlens.init() first");
    session.index += 1;
    var event = {
      video_id: cfg.videoId,
      session_id: session.id,
      event_index: session.index,
      kind: kind
    };
    if (cfg.userId) event.user_id = String(cfg.userId);
    for (var name in fields) {
      if (fields[name] !== undefined && fields[name] !== null) event[name] = fields[name];
    }
    queue.push(event);
    if (queue.length >= BATCH_SIZE) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
    return event;
  }

  function nodeFields(extra) {
    var fields = { node_id: session.node, entry_id: session.entry };
    for (var name in extra) fields[name] = extra[name];
    return fields;
  }

  // Sends the queue as NDJSON; `leaving` prefers sendBeacon, which survives
  // the page being closed.
  function flush(leaving) {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (!queue.length) return;
    if (cfg.partnerId === undefined) {
      askPartner();
      return;
    }
    while (queue.length) {
      var lines = [];
      var bytes = 0;
      while (queue.length && (lines.length === 0 || bytes + 400 < MAX_BATCH_BYTES)) {
        var event = queue.shift();
        event.partner_id = cfg.partnerId;
        var line = JSON.stringify(event);
        bytes += line.length + 1;
        lines.push(line);
      }
      send(lines.join("\n") + "\n", leaving);
    }
  }

  function send(body, leaving) {
    var target = url("/api/v1/events");
    // text/plain keeps the request "simple": no CORS preflight, and
    // sendBeacon accepts it cross-origin.
    var type = "text/plain;charset=UTF-8";
    var nav = root.navigator;
    if (leaving && nav && nav.sendBeacon && nav.sendBeacon(target, new Blob([body], { type: type }))) return;
    if (root.fetch) {
      root.fetch(target, {
        method: "POST",
        body: body,
        keepalive: true,
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": type }
      }).then(function (response) {
        // 503 means the store is busy: the same events are stored once, so
        // sending them again is safe.
        if (response.status === 503) retryLater(body);
      }, function () {
        retryLater(body);
      });
    } else if (nav && nav.sendBeacon) {
      nav.sendBeacon(target, new Blob([body], { type: type }));
    }
  }

  function retryLater(body) {
    setTimeout(function () {
      send(body, false);
    }, 3000);
  }

  // The write key knows its partner; ask once when init() was not told.
  function askPartner() {
    if (partnerWaiters) return;
    partnerWaiters = true;
    root.fetch(url("/api/v1/me"), { mode: "cors", credentials: "omit" }).then(function (response) {
      return response.json();
    }).then(function (me) {
      cfg.partnerId = me.partner_id;
      partnerWaiters = null;
      flush();
    }, function () {
      partnerWaiters = null;
      if (!timer) timer = setTimeout(flush, FLUSH_MS);
    });
  }

  function onHide() {
    if (session) flush(true);
  }

  var listening = false;
  function listen() {
    if (listening || !root.addEventListener) return;
    listening = true;
    root.addEventListener("pagehide", onHide);
    if (root.document) {
      root.document.addEventListener("visibilitychange", function () {
        if (root.document.visibilityState === "hidden") onHide();
      });
    }
  }

  var Pathlens = {
    /** Starts a viewing session. options: {endpoint, key, videoId, userId?, partnerId?} */
    init: function (options) {
      if (!options || !options.endpoint || !options.key || !options.videoId) {
        throw new Error("Pathlens.init({endpoint, key, videoId}) needs all three");
      }
      if (session) flush();
      cfg = {
        endpoint: String(options.endpoint),
        key: String(options.key),
        videoId: String(options.videoId),
        userId: options.userId ? String(options.userId) : undefined,
        partnerId: options.partnerId === undefined ? undefined : Number(options.partnerId)
      };
      session = { id: randomId(), index: 0, played: false, node: undefined, entry: undefined, clicked: null };
      listen();
      return session.id;
    },
    /** The player loaded the interactive video. */
    impression: function () {
      return track("impression", { entry_id: cfg.videoId });
    },
    /** The viewer started playback: "play" the first time, "resume" after. */
    play: function () {
      if (session.played) return track("resume", nodeFields({}));
      session.played = true;
      return track("play", { entry_id: cfg.videoId });
    },
    /** A node started playing (entryId: its media, optional). A move that no
     * hotspotClick announced is recorded as an automatic switch. */
    nodeEnter: function (nodeId, entryId) {
      nodeId = String(nodeId);
      var clicked = session.clicked;
      session.clicked = null;
      if (session.node !== undefined && !(clicked && clicked === nodeId)) {
        track("node_switch", { node_id: session.node, from_node_id: session.node, to_node_id: nodeId });
      }
      session.node = nodeId;
      session.entry = entryId ? String(entryId) : nodeId;
      return track("node_play", nodeFields({ position: 0 }));
    },
    /** A hotspot was clicked: options {toNodeId?, url?, position}. A click that
     * leads to a node is a node switch; others are hotspot clicks. */
    hotspotClick: function (hotspotId, options) {
      options = options || {};
      var position = number(options.position);
      if (options.toNodeId !== undefined && options.toNodeId !== null) {
        session.clicked = String(options.toNodeId);
        return track("node_switch", nodeFields({
          from_node_id: session.node,
          to_node_id: session.clicked,
          hotspot_id: String(hotspotId),
          position: position
        }));
      }
      return track("hotspot_click", nodeFields({
        hotspot_id: String(hotspotId),
        target_url: options.url ? String(options.url) : undefined,
        position: position
      }));
    },
    /** Playback progress in the current node: position (s) and the seconds
     * played in this node so far (cumulative; restart at 0 on a new visit). */
    progress: function (position, playTimeSum) {
      return track("view", nodeFields({ position: number(position), play_time_sum: number(playTimeSum) }));
    },
    /** The current node played to its end (quartile 100); sends the queue. */
    end: function () {
      var event = track("quartile", nodeFields({ quartile: 100 }));
      flush();
      return event;
    },
    /** Sends queued events now. */
    flush: function () {
      flush();
    },
    /** The current session id (null before init). */
    sessionId: function () {
      return session ? session.id : null;
    }
  };

  root.Pathlens = Pathlens;
})(typeof window !== "undefined" ? window : this);
