/**
 * Order: one leg of an arbitrage trade, on one venue.
 *
 * The original system could not serialize its order objects, so open
 * positions were lost on restart. Here an order is plain data with a Schema,
 * and it round-trips exactly.
 *
 * @module
 */
import { Schema } from "effect"
import { MarketSymbol, OrderId, Venue } from "./Ids.ts"
import { EpochMillis, Price, Quantity } from "./Units.ts"

/** Which way an order trades the base asset. */
export const OrderSide = Schema.Literals(["buy", "sell"])
export type OrderSide = typeof OrderSide.Type

/** Where an order is in its life on the venue. */
export const OrderStatus = Schema.Literals(["new", "partially_filled", "filled", "cancelled", "rejected"])
export type OrderStatus = typeof OrderStatus.Type

/** One leg order; the filled quantity never exceeds the quantity, and it is never updated before it was created. */
export const Order = Schema.Struct({
  orderId: OrderId,
  venue: Venue,
  symbol: MarketSymbol,
  side: OrderSide,
  price: Price,
  quantity: Quantity,
  filledQuantity: Quantity,
  status: OrderStatus,
  createdAt: EpochMillis,
  updatedAt: EpochMillis
}).check(
  Schema.makeFilter((order) => [
    ...(order.filledQuantity <= order.quantity ? [] : [{
      path: ["filledQuantity"],
      issue: `filled quantity ${order.filledQuantity} exceeds the order quantity ${order.quantity}`
    }]),
    ...(order.updatedAt >= order.createdAt ? [] : [{
      path: ["updatedAt"],
      issue: `updated at ${order.updatedAt}, before it was created at ${order.createdAt}`
    }])
  ])
).annotate({ identifier: "Order" })
export type Order = typeof Order.Type
