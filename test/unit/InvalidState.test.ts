import { assert, describe, it } from "@effect/vitest"
import { decodeEngineState, decodeEngineStateJson, encodeEngineState } from "../../src/domain/StateCodec.ts"
import { fixtureJson, fixtureText } from "../support/Fixtures.ts"
import { expectCodecFailure, expectSuccess } from "../support/Results.ts"

/** A current-version encoded state with one open trade, as a mutable JSON value. */
const validEncoded = () =>
  structuredClone(expectSuccess(encodeEngineState(expectSuccess(decodeEngineStateJson(fixtureText("v1/engine-state-open-trade.json")))))) as any

const cases: ReadonlyArray<{
  readonly name: string
  readonly mutate: (state: any) => void
  readonly reason: string
  readonly mentions: ReadonlyArray<string>
}> = [
  {
    name: "a wrong type",
    mutate: (s) => (s.session.loopCount = "20"),
    reason: "InvalidValue",
    mentions: ["session.loopCount", "Count"]
  },
  { name: "NaN", mutate: (s) => (s.metrics.totalPnlUsd = NaN), reason: "InvalidValue", mentions: ["metrics.totalPnlUsd", "finite"] },
  {
    name: "Infinity",
    mutate: (s) => (s.positions.activeTrades.trd_000017.buyLeg.price = Infinity),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.buyLeg.price"]
  },
  {
    name: "a negative count",
    mutate: (s) => (s.riskGuard.perSymbol["ETH-USDT"].tradesRejected = -1),
    reason: "InvalidValue",
    mentions: ["riskGuard.perSymbol.ETH-USDT.tradesRejected"]
  },
  {
    name: "a fractional count",
    mutate: (s) => (s.metrics.tradesOpened = 3.5),
    reason: "InvalidValue",
    mentions: ["metrics.tradesOpened", "integer"]
  },
  {
    name: "more trades closed than opened",
    mutate: (s) => (s.metrics.tradesClosed = 4),
    reason: "InvalidValue",
    mentions: ["metrics.tradesClosed"]
  },
  {
    name: "more winning trades than closed",
    mutate: (s) => (s.metrics.winningTrades = 3),
    reason: "InvalidValue",
    mentions: ["metrics.winningTrades"]
  },
  {
    name: "equity that is not initial capital + PnL",
    mutate: (s) => (s.metrics.portfolioEquityUsd = 10_500),
    reason: "InvalidValue",
    mentions: ["metrics.portfolioEquityUsd"]
  },
  {
    name: "an open trade not counted in its symbol's position count",
    mutate: (s) => (s.riskGuard.perSymbol["BTC-USDT"].positionCount = 0),
    reason: "InvalidValue",
    mentions: ["riskGuard.perSymbol.BTC-USDT.positionCount"]
  },
  {
    name: "an open trade the metrics do not count",
    mutate: (s) => (s.metrics.tradesOpened = 2),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades"]
  },
  {
    name: "capital used that the open trades do not hold",
    mutate: (s) => (s.riskGuard.perSymbol["BTC-USDT"].capitalUsedUsd = 5),
    reason: "InvalidValue",
    mentions: ["riskGuard.perSymbol.BTC-USDT.capitalUsedUsd"]
  },
  {
    name: "both legs on one venue",
    mutate: (s) => (s.positions.activeTrades.trd_000017.sellLeg.venue = "A"),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.sellLeg.venue", "both legs are on venue A"]
  },
  {
    name: "both legs on one venue, its name in another case",
    mutate: (s) => {
      s.positions.activeTrades.trd_000017.buyLeg.venue = "Upbit"
      s.positions.activeTrades.trd_000017.sellLeg.venue = "upbit"
    },
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.sellLeg.venue"]
  },
  {
    name: "a venue name that is unsafe in a key",
    mutate: (s) => (s.positions.activeTrades.trd_000017.sellLeg.venue = "up:bit"),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.sellLeg.venue"]
  },
  {
    name: "a buy leg that sells",
    mutate: (s) => (s.positions.activeTrades.trd_000017.buyLeg.side = "sell"),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.buyLeg.side"]
  },
  {
    name: "a symbol outside the safe set",
    mutate: (s) => (s.positions.activeTrades.trd_000017.symbol = "BTC USDT"),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.symbol"]
  },
  {
    name: "a fill larger than the order",
    mutate: (s) => (s.positions.activeTrades.trd_000017.buyLeg.filledQuantity = 1),
    reason: "InvalidValue",
    mentions: ["buyLeg.filledQuantity"]
  },
  {
    name: "an open trade without its open time",
    mutate: (s) => (s.positions.positionOpenTimes = {}),
    reason: "InvalidValue",
    mentions: ["positions.positionOpenTimes.trd_000017"]
  },
  {
    name: "an emptied campaign (the original S5 corruption)",
    mutate: (s) => (s.session.campaignId = ""),
    reason: "InvalidValue",
    mentions: ["session.campaignId"]
  },
  {
    name: "a session id that is unsafe in a Redis key",
    mutate: (s) => (s.session.sessionId = "sess_a:b"),
    reason: "InvalidValue",
    mentions: ["session.sessionId"]
  },
  {
    name: "a time a Date cannot hold (after 9999-12-31)",
    mutate: (s) => (s.positions.activeTrades.trd_000017.buyLeg.updatedAt = 253_402_300_800_000),
    reason: "InvalidValue",
    mentions: ["positions.activeTrades.trd_000017.buyLeg.updatedAt"]
  },
  { name: "an unknown field", mutate: (s) => (s.metrics.bonus = 1), reason: "InvalidValue", mentions: ["metrics.bonus"] },
  { name: "a missing section", mutate: (s) => delete s.riskGuard, reason: "InvalidValue", mentions: ["riskGuard"] },
  {
    name: "an unknown version",
    mutate: (s) => (s.positions.version = 99),
    reason: "UnsupportedVersion",
    mentions: ["positions has version 99"]
  }
]

describe("invalid state is rejected with a message naming the path", () => {
  it("the unmodified state is valid (so each case below fails for its own reason)", () => {
    expectSuccess(decodeEngineState(validEncoded()))
  })

  for (const { mentions, mutate, name, reason } of cases) {
    it(name, () => {
      const encoded = validEncoded()
      mutate(encoded)
      const error = expectCodecFailure(decodeEngineState(encoded))
      assert.strictEqual(error.reason._tag, reason, error.message)
      for (const text of mentions) assert.include(error.message, text)
    })
  }

  it("the latest time a state may hold is the last millisecond of 9999, which a Date can format", () => {
    const encoded = validEncoded()
    encoded.positions.activeTrades.trd_000017.buyLeg.updatedAt = 253_402_300_799_999
    const [trade] = Object.values(expectSuccess(decodeEngineState(encoded)).positions.activeTrades)
    assert.strictEqual(new Date(trade!.buyLeg.updatedAt).toISOString(), "9999-12-31T23:59:59.999Z")
  })

  it("truncated JSON text is MalformedJson", () => {
    const text = JSON.stringify(validEncoded())
    for (const length of [0, 1, Math.floor(text.length / 2), text.length - 1]) {
      const error = expectCodecFailure(decodeEngineStateJson(text.slice(0, length)))
      assert.strictEqual(error.reason._tag, "MalformedJson")
      assert.include(error.message, "state is not valid JSON")
    }
  })

  it("JSON that is not an object is rejected, not dereferenced", () => {
    for (const text of ["null", "[]", "42", "\"state\"", "true"]) {
      const error = expectCodecFailure(decodeEngineStateJson(text))
      assert.strictEqual(error.reason._tag, "InvalidValue")
    }
  })

  it("encoding refuses a state that breaks an invariant, so it never reaches a store", () => {
    const state = expectSuccess(decodeEngineStateJson(fixtureText("v1/engine-state-open-trade.json")))
    const error = expectCodecFailure(encodeEngineState({ ...state, metrics: { ...state.metrics, tradesOpened: 9 } }))
    assert.include(error.message, "positions.activeTrades")
  })

  it("every fixture field listed in the mutations exists (the cases mutate real fields)", () => {
    const stored = fixtureJson("v1/engine-state-open-trade.json")
    assert.property(stored.positions.activeTrades, "trd_000017")
    assert.property(stored.riskGuard.perSymbol, "ETH-USDT")
  })
})
