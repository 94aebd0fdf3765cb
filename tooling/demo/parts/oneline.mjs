// oneline: `oneline serve` on a free port; `oneline send` runs twice against it (one line, then
// three); SIGTERM then stops the server.
import { runCliOk, shown, withServer } from '../cli.mjs'

export async function run() {
  await withServer('oneline', [], async (address) => {
    for (const args of [['echo hello'], ['count 3', '--lines', '3']]) {
      const output = await runCliOk('oneline', ['send', address, ...args])
      console.log(`oneline send ${address} ${shown(args)}`)
      for (const reply of output.split('\n')) console.log(`  < ${reply}`)
    }
  })
}
