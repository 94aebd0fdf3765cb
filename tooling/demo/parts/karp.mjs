// karp: `karp serve` on a free port; `karp request` calls its echo, upper and fail routes (fail is
// a remote failure: exit code 1) and a route it does not have (exit code 1 too); SIGTERM stops the
// server, which closes gracefully.
import { runCli, shown, withServer } from '../cli.mjs'

export async function run() {
  await withServer('karp', [], async (address) => {
    for (const [args, expected] of [
      [['echo', 'hello karp'], 0],
      [['upper', 'hello karp'], 0],
      [['fail', 'anything'], 1],
      [['nosuch', 'anything'], 1],
    ]) {
      const { code, out, err } = await runCli('karp', ['request', address, ...args])
      console.log(`$ karp request ${address} ${shown(args)}`)
      if (out !== '') console.log(out)
      if (err !== '') console.log(`stderr: ${err}`)
      console.log(`exit ${code}`)
      if (code !== expected) throw new Error(`karp request ${args[0]} exited with ${code}, expected ${expected}`)
    }
  })
}
