import { defineConfig } from "vitest/config"

// CI asks for a machine-readable report beside the console one, to print its closing count.
const jsonReport = process.env.VITEST_JSON_REPORT

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: jsonReport ? ["default", ["json", { outputFile: jsonReport }]] : ["default"]
  }
})
