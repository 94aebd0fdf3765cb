import { existsSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { packageProject } from '@proto/vitest-config'

const here = fileURLToPath(new URL('.', import.meta.url))
const packages = fileURLToPath(new URL('../../packages/', import.meta.url))
const PROTOCOLS = ['framing', 'karp', 'korv', 'krpc', 'oneline', 'tej'] as const

// Until `pnpm install` links this package's dependencies, each import falls back to the built
// entry point that the link would resolve to; once the links exist nothing is redirected.
// Exact matches only: the packages' own imports of subpaths such as `@proto/framing/errors`
// resolve from their own links.
const alias: { find: RegExp; replacement: string }[] = []
for (const name of PROTOCOLS) {
  if (!existsSync(`${here}node_modules/@proto/${name}`)) {
    alias.push({ find: new RegExp(`^@proto/${name}$`), replacement: `${packages}${name}/dist/index.js` })
  }
}
if (!existsSync(`${here}node_modules/ssh2`) && existsSync(`${packages}korv/node_modules/ssh2`)) {
  alias.push({ find: /^ssh2$/, replacement: realpathSync(`${packages}korv/node_modules/ssh2`) })
}

export default packageProject('reliability', {
  // Each file in its own process, so memory readings see one server and its attackers only,
  // and `--expose-gc` lets every reading start from a collected heap.
  pool: 'forks',
  execArgv: ['--expose-gc'],
  alias,
})
