// Getting the agent's attention on a new offer: a short beep and, when allowed, a desktop notification.

let audio = null;

/** Call from a user gesture (the sign-in click): browsers only let audio and permission prompts start there. */
export function primeAlerts() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null;
  }
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().catch(() => {});
  }
}

export function beep() {
  if (!audio) return;
  try {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "sine";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
  } catch {
    // sound is a nicety; the offer card is the source of truth
  }
}

export function notifyOffer(offer) {
  if (!("Notification" in window) || Notification.permission !== "granted" || document.hasFocus()) return;
  const it = offer.interaction ?? {};
  try {
    const n = new Notification("New offer", {
      body: `${it.customer?.name ?? "Customer"} · ${it.channel ?? ""} · ${it.queue ?? ""}`,
      tag: `offer-${offer.offer_id}`,
    });
    n.onclick = () => {
      window.focus();
      n.close();
    };
  } catch {
    // some browsers allow the permission but not the constructor (service-worker only)
  }
}
