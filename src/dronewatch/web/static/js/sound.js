// Alert tones with WebAudio (no audio files). Browsers start audio only after a user
// gesture, so the context is created or resumed on the first click or key press.

const MUTE_KEY = "dronewatch.muted";
let ctx = null;
let lastBeep = 0;
let gestured = false; // no AudioContext before a user gesture (browsers refuse it)
let pending = null; // the severity of an alert that arrived while audio was locked

export const sound = {
  beeps: 0, // how many alert tones were played (shown to the tests)
  get muted() { return localStorage.getItem(MUTE_KEY) === "1"; },
  set muted(v) { localStorage.setItem(MUTE_KEY, v ? "1" : "0"); },
};

function context() {
  if (!gestured) return null;
  if (!ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    ctx = new Ctx();
  }
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
  return ctx;
}

export function unlockAudioOnGesture() {
  const unlock = () => {
    gestured = true;
    context();
    // An alert that came before the first gesture is still owed its tone.
    if (pending) {
      const severity = pending;
      pending = null;
      beep(severity);
    }
    window.removeEventListener("pointerdown", unlock);
    window.removeEventListener("keydown", unlock);
  };
  window.addEventListener("pointerdown", unlock);
  window.addEventListener("keydown", unlock);
}

function tone(ac, freq, start, dur, gain) {
  const osc = ac.createOscillator();
  const g = ac.createGain();
  osc.type = "square";
  osc.frequency.value = freq;
  g.gain.setValueAtTime(0, start);
  g.gain.linearRampToValueAtTime(gain, start + 0.01);
  g.gain.setValueAtTime(gain, start + dur - 0.03);
  g.gain.linearRampToValueAtTime(0, start + dur);
  osc.connect(g).connect(ac.destination);
  osc.start(start);
  osc.stop(start + dur + 0.02);
}

/** Beep for a new alert: three high tones for critical, one lower tone for warning. */
export function beep(severity) {
  if (sound.muted) return;
  const now = performance.now();
  if (now - lastBeep < 1500) return; // one beep for a burst of alerts
  const ac = context();
  if (!ac) {
    if (pending !== "critical") pending = severity;
    return;
  }
  lastBeep = now;
  sound.beeps += 1;
  // resume() after the gesture is asynchronous: play once the context runs.
  if (ac.state === "running") play(ac, severity);
  else ac.resume().then(() => play(ac, severity)).catch(() => {});
}

function play(ac, severity) {
  const t = ac.currentTime + 0.02;
  if (severity === "critical") {
    for (let i = 0; i < 3; i++) tone(ac, 1046, t + i * 0.2, 0.12, 0.08);
  } else {
    tone(ac, 660, t, 0.2, 0.06);
  }
}
