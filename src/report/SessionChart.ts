/**
 * SessionChart: the report's equity and drawdown charts, as inline SVG that
 * fits any page width without a script.
 *
 * Positions along the loop axis are percentages of the plot's width and every
 * text is drawn at its own pixel size, so a narrow window narrows the plot and
 * never shrinks the labels or makes the page scroll sideways. The curves are
 * drawn in a nested SVG stretched to the plot (their strokes keep their width).
 *
 * Resume labels are laid out in lanes above the plot, for the narrowest plot
 * the page is built for (`narrowestPlotPx`): two labels share a lane only when
 * they do not collide at that width, and what does not collide there does not
 * collide in any wider plot either (the gap between two anchored labels only
 * grows with the width). Label widths are estimated for a wide sans-serif font
 * (DejaVu Sans), so narrower fonts only leave more room.
 */
import type { DrawdownPoint, EquityPoint, MaxDrawdown } from "./Drawdown.ts"
import { elapsed, escape, signedPercent, simulatedClock, usd } from "./internal/Format.ts"

/** The narrowest plot (in CSS pixels) that labels and ticks are laid out for: a 520 px wide window. */
export const narrowestPlotPx = 400

/** A session's simulated clock: loop `n` happened at `startMs + n × tickMs` (`tickMs` null when not recorded). */
export interface SessionClock {
  readonly startMs: number
  readonly tickMs: number | null
}

/** How a session came to be resumed: after a clean stop, after a crash, or not recorded (older events). */
export type ResumeAfter = "stop" | "crash" | "unrecorded"

/** The tier a resume restored from. */
export type ResumeTier = "live" | "durable" | "unknown"

/** One resume to mark on the equity chart. */
export interface ResumeMark {
  /** Its number in the report (the Resumes table uses the same). */
  readonly number: number
  readonly loop: number
  readonly after: ResumeAfter
  readonly tier: ResumeTier
}

/** How the session had ended before a resume, after "after". */
export const afterText = (after: ResumeAfter): string =>
  after === "crash" ? "a crash" : after === "stop" ? "a clean stop" : "an unrecorded end"

/** The one name of each tier, everywhere in the page. */
export const tierName = (tier: ResumeTier): string =>
  tier === "live" ? "live tier" : tier === "durable" ? "durable tier" : "unknown tier"

/** The size of the resume labels (the page's style sheet uses it; the layout below counts on it). */
export const labelFontPx = 12
/** The size of the tick labels. */
export const tickFontPx = 11
// Wider than the average glyph of DejaVu Sans (the widest of the usual sans-serif fonts).
const labelCharPx = 0.63 * labelFontPx
const labelGapPx = 8
const laneHeightPx = 24
const maxLanes = 4

/** [low, high], widened around a single value so that it has a length. */
const spread = (low: number, high: number): readonly [number, number] => (low === high ? [low - 1, high + 1] : [low, high])

// Slack for values that are a multiple of the step but for floating-point noise.
const slack = 1e-9

/** The smallest step of 1, 2, 2.5 or 5 × 10^k that puts at most `maxCount` of its multiples in [low, high]. */
const tickStep = (low: number, high: number, maxCount: number): number => {
  const magnitude = 10 ** Math.floor(Math.log10((high - low) / Math.max(1, maxCount - 1)))
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude)
    .find((step) => Math.floor(high / step + slack) - Math.ceil(low / step - slack) + 1 <= maxCount) ?? 10 * magnitude
}

/** The multiples `from × step` to `to × step`. */
const multiples = (from: number, to: number, step: number): ReadonlyArray<number> =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => (from + i) * step)

/** Evenly spaced round values within [low, high]: at most `maxCount` of them, in steps of 1, 2, 2.5 or 5 × 10^k. */
export const niceTicks = (low: number, high: number, maxCount: number): ReadonlyArray<number> => {
  const [from, to] = spread(low, high)
  const step = tickStep(from, to, maxCount)
  return multiples(Math.ceil(from / step - slack), Math.floor(to / step + slack), step)
}

/** Evenly spaced round values enclosing [low, high] (the first ≤ low, the last ≥ high), about `maxCount` of them. */
const enclosingTicks = (low: number, high: number, maxCount: number): ReadonlyArray<number> => {
  const [from, to] = spread(low, high)
  const step = tickStep(from, to, maxCount - 1)
  return multiples(Math.floor(from / step + slack), Math.ceil(to / step - slack), step)
}

const tickLabel = (value: number, step: number) =>
  value.toLocaleString("en-US", { maximumFractionDigits: step >= 1 ? 0 : 2, minimumFractionDigits: step >= 1 ? 0 : 2 })
    .replace("-", "−")

interface Frame {
  readonly id: string
  readonly description: string
  /** The loops the plot spans. */
  readonly loops: readonly [number, number]
  /** The y axis: its ticks (the first and last are the plot's bottom and top) and its unit. */
  readonly yTicks: ReadonlyArray<number>
  readonly yUnit: string
  readonly plotHeightPx: number
  /** Room above the plot (resume labels). */
  readonly topPx: number
  readonly clock: SessionClock
  /** Drawn stretched to the plot: x in 0..1000 across the loops, y in pixels. */
  readonly series: (x: (loop: number) => number, y: (value: number) => number) => string
  /** Drawn over the plot: x in percent of its width, y in pixels (the plot spans `top` to `bottom`). */
  readonly overlay: (x: (loop: number) => number, y: (value: number) => number, plot: { readonly top: number; readonly bottom: number }) => string
}

const percent = (n: number) => `${n.toFixed(3)}%`

/** A labelled plot: gridlines, both axes with their ticks, units and captions, then the series and the overlay. */
const frame = (f: Frame): string => {
  const [firstLoop, lastLoop] = f.loops[0] === f.loops[1] ? [f.loops[0], f.loops[0] + 1] : f.loops
  const low = f.yTicks[0]!
  const high = f.yTicks.at(-1)!
  const bottom = f.topPx + f.plotHeightPx
  const y = (value: number) => bottom - ((value - low) / (high - low)) * f.plotHeightPx
  const share = (loop: number) => (loop - firstLoop) / (lastLoop - firstLoop)
  const yStep = f.yTicks.length > 1 ? f.yTicks[1]! - f.yTicks[0]! : 1
  const yGrid = f.yTicks.map((value) =>
    `<line class="grid" x1="0" x2="100%" y1="${y(value).toFixed(1)}" y2="${y(value).toFixed(1)}"/>` +
    `<text class="tick y-tick" x="-8" y="${y(value).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${tickLabel(value, yStep)}</text>`
  ).join("\n")
  // About one loop tick per 80 px of the narrowest plot: the loop number and the simulated time under it.
  // Loops are whole: a short session gets fewer ticks rather than fractional ones.
  const xTicks = niceTicks(firstLoop, lastLoop, Math.floor(narrowestPlotPx / 80)).filter(Number.isInteger)
  const xGrid = xTicks.map((loop) => {
    const at = share(loop)
    const anchor = at < 0.04 ? "start" : at > 0.96 ? "end" : "middle"
    const time = f.clock.tickMs === null ? "" :
      `<text class="tick x-time" x="${percent(at * 100)}" y="${bottom + 30}" text-anchor="${anchor}">${elapsed(loop * f.clock.tickMs)}</text>`
    return `<line class="grid" x1="${percent(at * 100)}" x2="${percent(at * 100)}" y1="${f.topPx}" y2="${bottom}"/>` +
      `<text class="tick x-tick" x="${percent(at * 100)}" y="${bottom + 16}" text-anchor="${anchor}">${loop}</text>${time}`
  }).join("\n")
  const xCaption = f.clock.tickMs === null
    ? "loop (no simulated time: the session did not record its tick)"
    : `loop · simulated time since ${simulatedClock(f.clock.startMs)} (1 loop = ${f.clock.tickMs / 1000} s)`
  const height = bottom + (f.clock.tickMs === null ? 40 : 54)
  return `<svg id="${f.id}" class="chart" height="${height}" role="img" aria-label="${escape(f.description)}">
<text class="axis-unit" x="-8" y="${f.topPx - 10}" text-anchor="end">${escape(f.yUnit)}</text>
${yGrid}
${xGrid}
<line class="axis" x1="0" x2="100%" y1="${bottom}" y2="${bottom}"/>
<line class="axis" x1="0" x2="0" y1="${f.topPx}" y2="${bottom}"/>
<svg class="series" x="0" y="0" width="100%" height="${bottom}" viewBox="0 0 1000 ${bottom}" preserveAspectRatio="none">
${f.series((loop) => share(loop) * 1000, y)}
</svg>
${f.overlay((loop) => share(loop) * 100, y, { top: f.topPx, bottom })}
<text class="axis-caption" x="100%" y="${height - 4}" text-anchor="end">${escape(xCaption)}</text>
</svg>`
}

interface PlacedLabel {
  readonly mark: ResumeMark
  readonly text: string
  readonly anchor: "start" | "end"
  readonly lane: number
}

/** Each resume's label text at three levels of detail: full, medium, bare number. */
const labelTexts = (mark: ResumeMark): readonly [string, string, string] => {
  const after = mark.after === "unrecorded" ? "?" : mark.after
  return [`${mark.number} · ${after} · ${tierName(mark.tier)}`, `${mark.number} ${after}`, `${mark.number}`]
}

/**
 * Lanes for the resume labels at the narrowest plot: each label goes to the first lane where it
 * collides with no other, anchored at its mark on the side where it fits. The most detailed
 * wording that needs no more than `maxLanes` lanes is used; bare numbers take as many as they need.
 */
export const layoutResumeLabels = (marks: ReadonlyArray<ResumeMark>, share: (loop: number) => number): ReadonlyArray<PlacedLabel> => {
  const place = (level: 0 | 1 | 2) => {
    const lanes: Array<Array<readonly [number, number]>> = []
    return [...marks].sort((a, b) => a.loop - b.loop).map((mark): PlacedLabel => {
      const text = labelTexts(mark)[level]
      const width = text.length * labelCharPx
      const at = share(mark.loop) * narrowestPlotPx
      const anchor = at + width <= narrowestPlotPx || at < narrowestPlotPx - at ? "start" : "end"
      const span = anchor === "start" ? [at, at + width] as const : [at - width, at] as const
      const collides = (taken: readonly [number, number]) => span[0] < taken[1] + labelGapPx && taken[0] < span[1] + labelGapPx
      let lane = lanes.findIndex((spans) => !spans.some(collides))
      if (lane < 0) lane = lanes.push([]) - 1
      lanes[lane]!.push(span)
      return { mark, text, anchor, lane }
    })
  }
  const full = place(0)
  if (laneCount(full) <= maxLanes) return full
  const medium = place(1)
  return laneCount(medium) <= maxLanes ? medium : place(2)
}

const laneCount = (labels: ReadonlyArray<PlacedLabel>) => Math.max(0, ...labels.map((l) => l.lane + 1))

/**
 * The equity curve: one point per valid snapshot, and a marked line per resume (crash and clean stop
 * drawn differently); `resumes` must lie within the loops of `points`.
 */
export const equityChart = (
  points: ReadonlyArray<EquityPoint>,
  resumes: ReadonlyArray<ResumeMark>,
  clock: SessionClock
): string => {
  if (points.length === 0) return `<p>No valid snapshot to draw.</p>`
  const loops = [points[0]!.loop, points.at(-1)!.loop] as const
  const equity = points.map((p) => p.equityUsd)
  const span = loops[1] - loops[0] || 1
  const labels = layoutResumeLabels(resumes, (loop) => (loop - loops[0]) / span)
  const topPx = 22 + laneCount(labels) * laneHeightPx
  return frame({
    id: "equity",
    description: "equity curve in USD by loop, with the resumes marked",
    loops,
    yTicks: enclosingTicks(Math.min(...equity), Math.max(...equity), 6),
    yUnit: "USD",
    plotHeightPx: 240,
    topPx,
    clock,
    series: (x, y) =>
      `<polyline id="equity-line" points="${points.map((p) => `${x(p.loop).toFixed(2)},${y(p.equityUsd).toFixed(1)}`).join(" ")}"/>`,
    overlay: (x, _y, plot) => {
      const laneY = (lane: number) => topPx - 8 - lane * laneHeightPx
      const lines = labels.map(({ mark, lane }) =>
        `<line class="resume-line after-${mark.after}" x1="${percent(x(mark.loop))}" x2="${percent(x(mark.loop))}" y1="${laneY(lane) + 3}" y2="${plot.bottom}"/>`
      ).join("\n")
      const texts = labels.map(({ anchor, lane, mark, text }) =>
        `<text class="resume-label after-${mark.after}" data-after="${mark.after}" data-tier="${mark.tier}" data-loop="${mark.loop}" ` +
        `x="${percent(x(mark.loop))}" dx="${anchor === "start" ? 3 : -3}" y="${laneY(lane)}" text-anchor="${anchor}">` +
        `<title>resume ${mark.number} at loop ${mark.loop}, after ${afterText(mark.after)}, from the ${tierName(mark.tier)}</title>${escape(text)}</text>`
      ).join("\n")
      // Lines first, labels over them: a label (with its white halo) hides a line that crosses its lane.
      return `${lines}\n${texts}`
    }
  })
}

/** The drawdown from the running peak, in USD, with the deepest fall shaded and its trough marked. */
export const drawdownChart = (
  points: ReadonlyArray<DrawdownPoint>,
  max: MaxDrawdown,
  clock: SessionClock
): string => {
  const loops = [points[0]?.loop ?? max.peakLoop, points.at(-1)?.loop ?? max.troughLoop] as const
  return frame({
    id: "drawdown",
    description: "drawdown from the running peak of equity, in USD, by loop",
    loops,
    yTicks: enclosingTicks(max.usd, 0, 5),
    yUnit: "USD",
    plotHeightPx: 120,
    topPx: 22,
    clock,
    series: (x, y) => {
      const edge = `${x(loops[0]).toFixed(2)},${y(0).toFixed(1)}`
      const curve = points.map((p) => `${x(p.loop).toFixed(2)},${y(p.usd).toFixed(1)}`).join(" ")
      return `<polygon id="drawdown-area" points="${edge} ${curve} ${x(loops[1]).toFixed(2)},${y(0).toFixed(1)}"/>`
    },
    overlay: (x, y, plot) => {
      const from = x(max.peakLoop)
      const to = x(max.troughLoop)
      return `<rect class="max-drawdown-span" x="${percent(from)}" width="${percent(to - from)}" y="${plot.top}" height="${plot.bottom - plot.top}"/>
<circle class="max-drawdown-trough" cx="${percent(to)}" cy="${y(max.usd).toFixed(1)}" r="4"><title>deepest: ${usd(max.usd)} USD (${signedPercent(max.fraction)}) at loop ${max.troughLoop}</title></circle>`
    }
  })
}
