/*
 * `xs-iot sim --report energy`: the figures of a simulated device's energy account
 * (sim/energy-account.ts) per day, and its timeline as SVG: the power state over the run and,
 * on a lane of its own, when the radio was on and why (the job's name, "receive", the Wi-Fi
 * association). Host code (writes strings; the caller writes the file).
 */
import { POWER_STATES, batteryDays, type EnergySegment, type EnergyTotals, type PowerState } from "../../modules/scheduler/energy";

const DAY = 86_400_000;

export interface EnergySummary {
  device: string;
  protocol: string;
  simulatedH: number;
  wakesPerDay: number;
  deepWakesPerDay: number;
  radioOnSPerDay: number;
  radioWakesPerDay: number;
  bytesPerDay: number;
  mAhPerDay: number;
  /** On a 2,000 mAh cell. */
  batteryDays: number;
  /** mAh per day per state. */
  byState: { [state in PowerState]: number };
}

export function energySummary(device: string, protocol: string, t: EnergyTotals): EnergySummary {
  const days = t.ms / DAY;
  const per = (v: number) => (days > 0 ? v / days : 0);
  const byState = {} as { [state in PowerState]: number };
  for (const s of POWER_STATES) byState[s] = per(t.stateMAh[s]);
  const mAhPerDay = per(t.mAh);
  return {
    device,
    protocol,
    simulatedH: t.ms / 3_600_000,
    wakesPerDay: per(t.wakes),
    deepWakesPerDay: per(t.deepWakes),
    radioOnSPerDay: per(t.radioOnMs / 1000),
    radioWakesPerDay: per(t.radioWakes),
    bytesPerDay: per(t.bytesSent + t.bytesReceived),
    mAhPerDay,
    batteryDays: batteryDays(2000, mAhPerDay),
    byState,
  };
}

/** Lines for the human output. */
export function energyLines(s: EnergySummary): string[] {
  const f = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const states = POWER_STATES.filter((k) => s.byState[k] > 0)
    .map((k) => `${k} ${f(s.byState[k], 2)}`)
    .join(", ");
  return [
    `energy [${s.device}] ${s.protocol}, ${f(s.simulatedH, 1)} h simulated; per day:`,
    `  wakes ${f(s.wakesPerDay)} (${f(s.deepWakesPerDay)} from deep sleep), radio on ${f(s.radioOnSPerDay, 1)} s in ${f(s.radioWakesPerDay)} episodes, ${f(s.bytesPerDay)} bytes`,
    `  ${f(s.mAhPerDay, 2)} mAh/day (${states} mAh): ${f(s.batteryDays)} days on a 2,000 mAh cell`,
  ];
}

const COLOURS: { [state in PowerState]: string } = {
  deep: "#1f3b73",
  light: "#3f6fb5",
  "light-wifi": "#8fbde6",
  cpu: "#f2b705",
  boot: "#f27405",
  radio: "#d62728",
};

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The timeline as an SVG document: state lane, radio lane (hover: why), hour ticks, legend, radio time by reason. */
export function energySvg(segments: readonly EnergySegment[], from: number, to: number, title: string, epochAtFrom?: number): string {
  const W = 1200;
  const X0 = 90;
  const span = Math.max(1, to - from);
  const x = (t: number) => X0 + ((t - from) / span) * W;
  const parts: string[] = [];
  // State lane: neighbours of one state closer than a pixel are drawn as one bar.
  let cur: { state: PowerState; a: number; b: number } | undefined;
  const flush = () => {
    if (!cur) return;
    const w = Math.max(0.4, x(cur.b) - x(cur.a));
    parts.push(`<rect x="${x(cur.a).toFixed(2)}" y="40" width="${w.toFixed(2)}" height="40" fill="${COLOURS[cur.state]}"/>`);
  };
  for (const seg of segments) {
    if (seg.to <= from || seg.from >= to) continue;
    if (seg.state === "radio" || seg.state === "boot") continue; // on their own lane, over the top
    if (cur && cur.state === seg.state && x(seg.from) - x(cur.b) < 1) cur.b = Math.max(cur.b, seg.to);
    else {
      flush();
      cur = { state: seg.state, a: seg.from, b: seg.to };
    }
  }
  flush();
  // Radio lane: each radio (or boot) stretch, at least a pixel wide, why in its title.
  const reasons = new Map<string, number>();
  let radio: { a: number; b: number; why: string[]; boot: boolean } | undefined;
  const flushRadio = () => {
    if (!radio) return;
    const w = Math.max(1, x(radio.b) - x(radio.a));
    const why = radio.why.slice(0, 6).join("; ") + (radio.why.length > 6 ? `; +${radio.why.length - 6} more` : "");
    parts.push(`<rect x="${x(radio.a).toFixed(2)}" y="${radio.boot ? 122 : 95}" width="${w.toFixed(2)}" height="22" fill="${radio.boot ? COLOURS.boot : COLOURS.radio}"><title>${esc(why)}</title></rect>`);
  };
  for (const seg of segments) {
    if ((seg.state !== "radio" && seg.state !== "boot") || seg.to < from || seg.from > to) continue;
    if (seg.state === "radio") reasons.set(seg.why || "radio", (reasons.get(seg.why || "radio") ?? 0) + (seg.to - seg.from));
    const boot = seg.state === "boot";
    if (radio && radio.boot === boot && x(seg.from) - x(radio.b) < 1) {
      radio.b = Math.max(radio.b, seg.to);
      if (seg.why && radio.why.indexOf(seg.why) < 0) radio.why.push(seg.why);
    } else {
      flushRadio();
      radio = { a: seg.from, b: seg.to, why: seg.why ? [seg.why] : [], boot };
    }
  }
  flushRadio();
  // Hour ticks (or minutes for a short run).
  const step = span > 6 * 3_600_000 ? 3_600_000 : span > 3_600_000 ? 600_000 : 60_000;
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
    const label = epochAtFrom !== undefined && epochAtFrom === epochAtFrom ? new Date(epochAtFrom + (t - from)).toISOString().slice(11, 16) : `${((t - from) / 3_600_000).toFixed(step < 3_600_000 ? 2 : 0)} h`;
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="36" x2="${x(t).toFixed(1)}" y2="150" stroke="#999" stroke-width="0.5"/><text x="${x(t).toFixed(1)}" y="164" font-size="10" text-anchor="middle">${label}</text>`);
  }
  // Legend and the radio time by reason.
  let lx = X0;
  for (const s of POWER_STATES) {
    parts.push(`<rect x="${lx}" y="180" width="12" height="12" fill="${COLOURS[s]}"/><text x="${lx + 16}" y="190" font-size="11">${s}</text>`);
    lx += 110;
  }
  const top = [...reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  top.forEach(([why, ms], i) => parts.push(`<text x="${X0}" y="${215 + i * 14}" font-size="11">radio ${(ms / 1000).toFixed(1)} s: ${esc(why)}</text>`));
  const H = 225 + top.length * 14;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W + X0 + 20}" height="${H}" font-family="sans-serif">\n` +
    `<text x="${X0}" y="20" font-size="14">${esc(title)}</text>\n` +
    `<text x="4" y="64" font-size="11">state</text><text x="4" y="110" font-size="11">radio on</text><text x="4" y="137" font-size="11">boot</text>\n` +
    parts.join("\n") +
    `\n</svg>\n`
  );
}
