/**
 * A plain ioredis connection for tests that reach below the stores.
 */
import { Redis } from "ioredis"

/** A connected client; disconnect it when done. */
export const createClient = async (url: string): Promise<Redis> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  return client
}
