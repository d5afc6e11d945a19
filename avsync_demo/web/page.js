// The avsync page: receives the avatar over WebRTC from the server that served it, plays it, and
// measures lip sync per tone or syllable onset as the browser renders it:
//   shown: when the frame marking an onset is displayed (requestVideoFrameCallback's
//          expectedDisplayTime; the frame's marker strip read back through a canvas);
//   heard: when the onset reaches the audio output (found by an AudioWorklet, mapped to the
//          performance clock through AudioContext.getOutputTimestamp()).
// skew = shown - heard, in ms (positive: video late). window.avsyncReport() returns everything.
"use strict";

const STRIP_BLOCKS = 16; // framing 1, 12 index bits, 2 epoch bits, framing 0 (avsync.marks)
const INDEX_BITS = 12;
const STATS_EVERY_MS = 1000;

const state = {
  started: false,
  connected: false,
  connectedAt: null, // performance.now() when the connection came up
  over: false,
  session: null,
  trackStreams: {}, // kind -> id of the MediaStream the track arrived in
  frames: { callbacks: 0, marked: 0, unmarked: 0, presented: 0 },
  firstShown: new Map(), // "epoch:index" -> expectedDisplayTime
  heard: [], // performance-clock times of onsets heard
  outputClock: [], // [contextTime, performanceTime] samples: does the output clock run?
  stats: [], // getStats samples of the inbound streams
};
window.avsync = state;

function stripHeight(height) {
  return Math.max(8, Math.floor(height / 9));
}

function readStrip(pixels, width, height) {
  // The strip's value (avsync.marks.read_strip): each block's central half against mid-grey.
  const blockWidth = Math.floor(width / STRIP_BLOCKS);
  const bits = [];
  for (let block = 0; block < STRIP_BLOCKS; block++) {
    const left = block * blockWidth + Math.floor(blockWidth / 4);
    const top = Math.floor(height / 4);
    let sum = 0;
    let count = 0;
    for (let y = top; y < top + Math.floor(height / 2); y++) {
      for (let x = left; x < left + Math.floor(blockWidth / 2); x++) {
        const at = (y * width + x) * 4;
        sum += 0.299 * pixels[at] + 0.587 * pixels[at + 1] + 0.114 * pixels[at + 2];
        count++;
      }
    }
    bits.push(sum / count > 128 ? 1 : 0);
  }
  if (bits[0] !== 1 || bits[STRIP_BLOCKS - 1] !== 0) return null;
  let value = 0;
  for (let place = 0; place < STRIP_BLOCKS - 2; place++) value |= bits[place + 1] << place;
  return { epoch: value >> INDEX_BITS, index: value & ((1 << INDEX_BITS) - 1) };
}

function watchFrames(video) {
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const onFrame = (now, metadata) => {
    state.frames.callbacks++;
    state.frames.presented = metadata.presentedFrames;
    const width = metadata.width;
    const height = stripHeight(metadata.height);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    context.drawImage(video, 0, metadata.height - height, width, height, 0, 0, width, height);
    const mark = readStrip(context.getImageData(0, 0, width, height).data, width, height);
    if (mark === null) {
      state.frames.unmarked++;
    } else {
      state.frames.marked++;
      const key = `${mark.epoch}:${mark.index}`;
      if (!state.firstShown.has(key)) state.firstShown.set(key, metadata.expectedDisplayTime);
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

async function listenForOnsets(audioContext, stream, detector) {
  await audioContext.audioWorklet.addModule("onsets.js");
  const node = new AudioWorkletNode(audioContext, "onset-detector", {
    processorOptions: detector,
    outputChannelCount: [2],
  });
  node.port.onmessage = (event) => {
    const stamp = audioContext.getOutputTimestamp();
    const contextTime = event.data.frame / audioContext.sampleRate;
    state.heard.push(stamp.performanceTime + (contextTime - stamp.contextTime) * 1000);
  };
  audioContext.createMediaStreamSource(stream).connect(node).connect(audioContext.destination);
  setInterval(() => {
    const stamp = audioContext.getOutputTimestamp();
    state.outputClock.push([stamp.contextTime, stamp.performanceTime]);
  }, STATS_EVERY_MS);
}

const NEAREST_FRAMES = 3; // an onset frame not seen displayed: one of the next frames stands in

function shownAt(onset) {
  // When the frame marking ``onset`` was displayed; if the page missed it (a display callback
  // skipped), when it would have been: a following frame's time less its frame periods.
  for (let later = 0; later < NEAREST_FRAMES; later++) {
    const shown = state.firstShown.get(`${onset.epoch % 4}:${onset.index + later}`);
    if (shown !== undefined) return shown - (later * 1000) / state.session.fps;
  }
  return undefined;
}

const TRACKED_ONSETS = 5; // the skew expected next: the median of the last few onsets

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function pairs() {
  // Each onset heard, paired with the marked onset frame shown nearest to where the skew of the
  // last few onsets says it should be (the median of their nearest frames: a skew larger than
  // half the onsets' spacing is still followed while it moves gradually), within the session's
  // window of it. The detector's known delay for that onset is taken off.
  const candidates = [];
  for (const onset of state.session.onsets) {
    const shown = shownAt(onset);
    if (shown !== undefined) candidates.push({ ...onset, shown, taken: false });
  }
  if (candidates.length === 0) return [];
  const nearest = (at) =>
    candidates.reduce((best, c) => (Math.abs(c.shown - at) < Math.abs(best.shown - at) ? c : best));
  const recent = [];
  const found = [];
  for (const heard of state.heard) {
    recent.push(nearest(heard).shown - heard);
    if (recent.length > TRACKED_ONSETS) recent.shift();
    const expected = heard + median(recent);
    let best = null;
    for (const candidate of candidates) {
      const distance = Math.abs(candidate.shown - expected);
      if (!candidate.taken && distance <= state.session.pair_window_ms) {
        if (best === null || distance < Math.abs(best.shown - expected)) {
          best = candidate;
        }
      }
    }
    if (best !== null) {
      best.taken = true;
      const at = heard - best.delay_ms;
      found.push({ epoch: best.epoch, index: best.index, heard: at, skew_ms: best.shown - at });
    }
  }
  return found;
}

async function sampleStats(pc) {
  const report = await pc.getStats();
  const sample = { at: performance.now() };
  report.forEach((entry) => {
    if (entry.type !== "inbound-rtp") return;
    sample[entry.kind] = {
      jitterBufferDelay: entry.jitterBufferDelay,
      jitterBufferTargetDelay: entry.jitterBufferTargetDelay,
      jitterBufferMinimumDelay: entry.jitterBufferMinimumDelay,
      jitterBufferEmittedCount: entry.jitterBufferEmittedCount,
      estimatedPlayoutTimestamp: entry.estimatedPlayoutTimestamp,
      framesDecoded: entry.framesDecoded,
      framesDropped: entry.framesDropped,
      totalSamplesReceived: entry.totalSamplesReceived,
      concealedSamples: entry.concealedSamples,
      packetsLost: entry.packetsLost,
    };
  });
  state.stats.push(sample);
}

function show() {
  if (state.over) return;
  const found = pairs();
  document.getElementById("status").textContent =
    `connected: ${state.frames.marked} marked frames shown, ${state.heard.length} onsets heard,` +
    ` ${found.length} measured (an onset is measured when the frame marking it is shown within` +
    ` ${state.session.pair_window_ms.toFixed(0)} ms of it)`;
  const recent = found
    .slice(-12)
    .map((pair) => pair.skew_ms)
    .sort((a, b) => a - b);
  if (recent.length) {
    const median = recent[Math.floor(recent.length / 2)];
    document.getElementById("summary").textContent =
      `skew, median of the last ${recent.length} onsets: ${median.toFixed(0)} ms`;
  }
  document.getElementById("skews").innerHTML = found
    .slice(-40)
    .reverse()
    .map((pair) => {
      const text = `epoch ${pair.epoch} frame ${pair.index}: ${pair.skew_ms.toFixed(0)} ms`;
      return Math.abs(pair.skew_ms) > 80 ? `<div class="bad">${text}</div>` : `<div>${text}</div>`;
    })
    .join("");
}

async function start() {
  if (state.started) return;
  state.started = true;
  document.getElementById("start").disabled = true;
  const audioContext = new AudioContext({ sampleRate: 48000 });
  await audioContext.resume();
  const offer = await (await fetch("offer", { method: "POST" })).json();
  state.session = offer.session;
  const pc = new RTCPeerConnection({ iceServers: [] });
  const video = document.getElementById("video");
  pc.ontrack = (event) => {
    const stream = event.streams[0];
    state.trackStreams[event.track.kind] = stream ? stream.id : null;
    if (!stream || video.srcObject === stream) return;
    video.srcObject = stream; // muted: the sound goes through the AudioContext
    video.play();
    watchFrames(video);
    listenForOnsets(audioContext, stream, state.session.detector);
  };
  pc.onconnectionstatechange = () => {
    state.connected = pc.connectionState === "connected";
    if (state.connected && state.connectedAt === null) state.connectedAt = performance.now();
    if (["disconnected", "failed", "closed"].includes(pc.connectionState)) {
      state.over = true;
      document.getElementById("status").textContent =
        `${pc.connectionState}: the session is over (reload the page to play another)`;
    }
  };
  await pc.setRemoteDescription({ type: offer.type, sdp: offer.sdp });
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  await fetch("answer", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id: offer.id, type: "answer", sdp: pc.localDescription.sdp }),
  });
  setInterval(() => sampleStats(pc), STATS_EVERY_MS);
  setInterval(show, 500);
}

window.avsyncReport = () => ({
  connected: state.connected,
  connected_at: state.connectedAt,
  now: performance.now(),
  track_streams: state.trackStreams,
  frames: state.frames,
  marked_frames_shown: state.firstShown.size,
  onsets_shown: state.session
    ? state.session.onsets.map(shownAt).filter((shown) => shown !== undefined)
    : [],
  heard: state.heard,
  pairs: state.session ? pairs() : [],
  output_clock: state.outputClock,
  stats: state.stats,
});

document.getElementById("start").addEventListener("click", start);
if (new URLSearchParams(location.search).has("autostart")) start();
