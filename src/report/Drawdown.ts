/**
 * Drawdown: how far equity fell below its running peak, point by point, and
 * the deepest fall (peak to trough) with where it began, bottomed and was
 * made good.
 *
 * Measured on the points it is given (the report gives one per valid
 * snapshot): a dip between two snapshots that left no snapshot is not seen.
 */

/** One equity observation: the loop it was taken at and the equity in USD. */
export interface EquityPoint {
  readonly loop: number
  readonly equityUsd: number
}

/** The distance below the running peak at one point (`usd` ≤ 0, `fraction` ≤ 0, of the peak). */
export interface DrawdownPoint {
  readonly loop: number
  readonly usd: number
  readonly fraction: number
}

/** The deepest peak-to-trough fall. */
export interface MaxDrawdown {
  readonly usd: number
  readonly fraction: number
  readonly peakLoop: number
  readonly peakUsd: number
  readonly troughLoop: number
  readonly troughUsd: number
  /** The first loop after the trough at which equity was back at the peak; `null` when it never was. */
  readonly recoveredAtLoop: number | null
}

/** The drawdown at every point, and the deepest one (`null` when equity never fell below a peak). */
export interface Drawdown {
  readonly points: ReadonlyArray<DrawdownPoint>
  readonly max: MaxDrawdown | null
}

/** The drawdown of an equity series given oldest first. */
export const drawdownOf = (series: ReadonlyArray<EquityPoint>): Drawdown => {
  let peak: EquityPoint | undefined
  let deepest: Omit<MaxDrawdown, "recoveredAtLoop"> | undefined
  const points: Array<DrawdownPoint> = []
  for (const point of series) {
    if (peak === undefined || point.equityUsd > peak.equityUsd) peak = point
    const usd = point.equityUsd - peak.equityUsd
    const fraction = peak.equityUsd > 0 ? usd / peak.equityUsd : 0
    if (usd < 0 && (deepest === undefined || usd < deepest.usd)) {
      deepest = { usd, fraction, peakLoop: peak.loop, peakUsd: peak.equityUsd, troughLoop: point.loop, troughUsd: point.equityUsd }
    }
    points.push({ loop: point.loop, usd, fraction })
  }
  if (deepest === undefined) return { points, max: null }
  const { troughLoop, peakUsd } = deepest
  const recovery = series.find((point) => point.loop > troughLoop && point.equityUsd >= peakUsd)
  return { points, max: { ...deepest, recoveredAtLoop: recovery?.loop ?? null } }
}
