// Runs each protocol's demo part in turn: framing first, since every other package stands on it.
import { readdirSync } from 'node:fs'

const partsDir = new URL('./parts/', import.meta.url)
const parts = readdirSync(partsDir)
  .filter((file) => file.endsWith('.mjs'))
  .sort((a, b) => (a === 'framing.mjs' ? -1 : b === 'framing.mjs' ? 1 : a.localeCompare(b)))

for (const file of parts) {
  const name = file.slice(0, -'.mjs'.length)
  console.log(`\n== ${name} ==`)
  const { run } = await import(new URL(file, partsDir).href)
  await run()
}
console.log('\ndemo finished')
