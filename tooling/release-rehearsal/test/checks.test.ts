// The install checks the rehearsal and check-install share, on made-up trees and file lists: each
// rule must reject what it is there to reject, not only pass what the real packages give it.
import { describe, expect, it } from 'vitest'
import { checkContents, checkTree } from '../../scripts/installed-package.mjs'

const LOCAL = 'http://127.0.0.1:4873/'
const NPM = 'https://registry.npmjs.org/'
const at = (registry: string, name: string, version = '0.1.0'): string => `${registry}${name}/-/${name.split('/').pop()}-${version}.tgz`

// `npm i @proto/korv` from the local registry: korv, framing under it, ssh2 and its tree.
function korvTree(): { dependencies: Record<string, unknown> } {
  return {
    dependencies: {
      '@proto/korv': {
        version: '0.1.0',
        resolved: at(LOCAL, '@proto/korv'),
        overridden: false,
        dependencies: {
          '@proto/framing': { version: '0.1.0', resolved: at(LOCAL, '@proto/framing'), overridden: false },
          ssh2: {
            version: '1.17.0',
            resolved: at(NPM, 'ssh2', '1.17.0'),
            overridden: false,
            dependencies: { asn1: { version: '0.2.6', resolved: at(NPM, 'asn1', '0.2.6'), overridden: false } },
          },
        },
      },
    },
  }
}

describe('checkTree', () => {
  it('passes the package, framing and the allowed third-party tree, @proto from the source and the rest not', () => {
    expect(checkTree(korvTree(), 'korv', LOCAL)).toEqual({ ok: true, detail: 'only @proto/korv, @proto/framing, ssh2, asn1' })
  })

  it('rejects a @proto package from anywhere but the source', () => {
    const tree = korvTree()
    const korv = tree.dependencies['@proto/korv'] as { dependencies: Record<string, { resolved: string }> }
    korv.dependencies['@proto/framing'] = { resolved: at(NPM, '@proto/framing') }
    expect(checkTree(tree, 'korv', LOCAL)).toEqual({
      ok: false,
      detail: `@proto/korv > @proto/framing resolved to ${at(NPM, '@proto/framing')}, not from ${LOCAL}`,
    })
  })

  it('rejects a third-party package from the source, however deep', () => {
    const tree = korvTree()
    const ssh2 = (tree.dependencies['@proto/korv'] as { dependencies: { ssh2: { dependencies: Record<string, unknown> } } }).dependencies.ssh2
    ssh2.dependencies['asn1'] = { version: '0.2.6', resolved: at(LOCAL, 'asn1', '0.2.6'), overridden: false }
    expect(checkTree(tree, 'korv', LOCAL)).toEqual({
      ok: false,
      detail: `@proto/korv > ssh2 > asn1 resolved to ${at(LOCAL, 'asn1', '0.2.6')}, yet from ${LOCAL}`,
    })
  })

  it('rejects a dependency that is neither framing nor the allowed one', () => {
    const tree = korvTree()
    const korv = tree.dependencies['@proto/korv'] as { dependencies: Record<string, unknown> }
    korv.dependencies['left-pad'] = { version: '1.3.0', resolved: at(NPM, 'left-pad', '1.3.0'), overridden: false }
    expect(checkTree(tree, 'korv', LOCAL)).toEqual({ ok: false, detail: '@proto/korv > left-pad is installed' })
    // ssh2 is korv's to bring, nobody else's.
    expect(checkTree(korvTree(), 'karp', LOCAL).detail).toContain('@proto/korv is installed')
  })

  it('rejects an install without framing or without the package', () => {
    const tree = korvTree()
    const korv = tree.dependencies['@proto/korv'] as { dependencies: Record<string, unknown> }
    delete korv.dependencies['@proto/framing']
    expect(checkTree(tree, 'korv', LOCAL)).toEqual({ ok: false, detail: '@proto/framing is not installed' })
    expect(checkTree({ dependencies: {} }, 'korv', LOCAL).detail).toBe('@proto/korv is not installed\n@proto/framing is not installed')
  })

  it('takes a deduped entry, which carries only its version, for the copy listed elsewhere', () => {
    // check-install's shape: both tarballs at the top, framing deduped under the package.
    const tree = {
      dependencies: {
        '@proto/framing': { version: '0.1.0', resolved: 'file:/tmp/proto-framing-0.1.0.tgz', overridden: false },
        '@proto/karp': {
          version: '0.1.0',
          resolved: 'file:/tmp/proto-karp-0.1.0.tgz',
          overridden: false,
          dependencies: { '@proto/framing': { version: '0.1.0' } },
        },
      },
    }
    expect(checkTree(tree, 'karp', 'file:')).toEqual({ ok: true, detail: 'only @proto/framing, @proto/karp' })
  })
})

describe('checkContents', () => {
  const manifest = {
    name: '@proto/karp',
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
    types: './dist/index.d.ts',
    bin: { karp: './dist/cli.js' },
  }
  const good = ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/cli.d.ts', 'src/index.ts']

  it('passes a tarball with every target, its types, the README and the LICENSE', () => {
    expect(checkContents(good, manifest)).toEqual({ ok: true, detail: '8 files, types present' })
  })

  it('names every missing required file and target', () => {
    const files = good.filter((file) => !['LICENSE', 'README.md', 'dist/cli.js', 'dist/index.d.ts'].includes(file))
    expect(checkContents(files, manifest).detail.split('\n')).toEqual([
      'README.md is not in the tarball',
      'LICENSE is not in the tarball',
      'types target dist/index.d.ts is not in the tarball',
      'target dist/cli.js is not in the tarball',
      'dist/index.js has no .d.ts beside it',
    ])
  })

  it('rejects tests, benches, test configuration and build info', () => {
    const files = [...good, 'test/codec.test.ts', 'bench/run.mjs', 'dist/codec.test.js', 'dist/codec.test.d.ts', 'dist/codec.test.js.map', 'vitest.config.ts', 'tsconfig.build.tsbuildinfo']
    expect(checkContents(files, manifest).detail.split('\n')).toEqual([
      'ships test/codec.test.ts (a test or bench directory)',
      'ships bench/run.mjs (a test or bench directory)',
      'ships dist/codec.test.js (a test or bench file)',
      'ships dist/codec.test.d.ts (a test or bench file)',
      'ships dist/codec.test.js.map (a test or bench file)',
      'ships vitest.config.ts (test configuration)',
      'ships tsconfig.build.tsbuildinfo (a tsbuildinfo file)',
    ])
  })

  it('rejects a package that declares no types', () => {
    const { types: _types, ...untyped } = manifest
    expect(checkContents(good, { ...untyped, exports: { '.': './dist/index.js' } })).toEqual({ ok: false, detail: 'declares no types' })
  })
})
