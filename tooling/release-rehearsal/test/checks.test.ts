// The package checks the rehearsal, check-install and check-workspace share, on made-up trees, file
// lists and pages: each rule must reject what it is there to reject, not only pass what the real
// packages give it.
import { describe, expect, it } from 'vitest'
import { checkContents, checkTree } from '../../scripts/installed-package.mjs'
import { hexdump, parseHexdump, protocolDocProblems } from '../../scripts/protocol-docs.mjs'
import { readmeExampleProblems } from '../../scripts/readme-examples.mjs'

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
  const good = ['LICENSE', 'README.md', 'PROTOCOL.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'dist/cli.d.ts', 'src/index.ts']

  it('passes a tarball with every target, its types, the README and the LICENSE', () => {
    expect(checkContents(good, manifest)).toEqual({ ok: true, detail: '9 files, types present' })
  })

  it('names every missing required file and target', () => {
    const files = good.filter((file) => !['LICENSE', 'README.md', 'PROTOCOL.md', 'dist/cli.js', 'dist/index.d.ts'].includes(file))
    expect(checkContents(files, manifest).detail.split('\n')).toEqual([
      'README.md is not in the tarball',
      'LICENSE is not in the tarball',
      'PROTOCOL.md is not in the tarball',
      'types target dist/index.d.ts is not in the tarball',
      'target dist/cli.js is not in the tarball',
      'dist/index.js has no .d.ts beside it',
    ])
  })

  it('requires PROTOCOL.md of every package but framing, whose README is its reference', () => {
    const files = good.filter((file) => file !== 'PROTOCOL.md')
    expect(checkContents(files, manifest)).toEqual({ ok: false, detail: 'PROTOCOL.md is not in the tarball' })
    expect(checkContents(files, { ...manifest, name: '@proto/framing' })).toEqual({ ok: true, detail: '8 files, types present' })
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

describe('protocolDocProblems', () => {
  // Made-up vectors: one captured as hex, one as text, as the vector files hold them.
  const hello = Buffer.from('KARP_HEAD112914177763170669C_LEN8KARP_DATAaGVsbG8=KARP_END\n')
  const vectors = (file: string): { name: string; hex?: string; text?: string }[] | undefined =>
    file === 'demo.json'
      ? [
          { name: 'reply', hex: hello.toString('hex') },
          { name: 'json', text: '{"id":1}' },
        ]
      : undefined
  const page = (name: string, block: string): string => `# Demo\n\nThe reply:\n\n<!-- vector: demo.json ${name} -->\n\`\`\`\n${block}\n\`\`\`\n`

  it('passes a page whose blocks are the vectors they name, hex and text alike', () => {
    const both = `${page('reply', hexdump(hello))}\n${page('json', hexdump(Buffer.from('{"id":1}')))}`
    expect(protocolDocProblems(both, vectors)).toEqual([])
    // hexdump -C's closing line, the length alone, is accepted when it is right.
    expect(protocolDocProblems(page('reply', `${hexdump(hello)}\n0000003b`), vectors)).toEqual([])
  })

  it('writes what hexdump -C prints', () => {
    expect(hexdump(hello).split('\n')).toEqual([
      '00000000  4b 41 52 50 5f 48 45 41  44 31 31 32 39 31 34 31  |KARP_HEAD1129141|',
      '00000010  37 37 37 36 33 31 37 30  36 36 39 43 5f 4c 45 4e  |77763170669C_LEN|',
      '00000020  38 4b 41 52 50 5f 44 41  54 41 61 47 56 73 62 47  |8KARP_DATAaGVsbG|',
      '00000030  38 3d 4b 41 52 50 5f 45  4e 44 0a                 |8=KARP_END.|',
    ])
  })

  it('rejects a block whose bytes differ from the vector, naming where and showing the vector', () => {
    const changed = Buffer.from(hello)
    changed[0x2a] = 0x62
    const [problem] = protocolDocProblems(page('reply', hexdump(changed)), vectors)
    expect(problem).toMatch(/^line 5 \(demo\.json reply\): the block holds 59 bytes, the vector 59; they differ from offset 0x2a\. The vector is:\n/)
    expect(problem).toContain(hexdump(hello))
    expect(protocolDocProblems(page('reply', hexdump(hello.subarray(0, 58))), vectors)[0]).toContain('the block holds 58 bytes, the vector 59')
    expect(protocolDocProblems(page('reply', hexdump(Buffer.concat([hello, hello]))), vectors)[0]).toContain('it has 59 bytes more')
  })

  it('rejects a block that is not exactly what hexdump -C prints for its bytes', () => {
    const [first = '', , third = '', last = ''] = hexdump(hello).split('\n')
    const lines = [first, hexdump(hello).split('\n')[1] ?? '', third, last]
    const column = [...lines.slice(0, 3), last.replace('|8=KARP_END.|', '|8=KARP_END!|')].join('\n')
    expect(protocolDocProblems(page('reply', column), vectors)[0]).toMatch(/line 4 should read .*\|8=KARP_END\.\|.*not .*\|8=KARP_END!\|/)
    const offset = [first, third].join('\n')
    expect(parseHexdump(offset)).toEqual({ problem: expect.stringContaining('line 2 should read "00000010  38 4b') })
    expect(parseHexdump('4b 41 52 50')).toEqual({ problem: 'line 1 is not a hexdump -C line: "4b 41 52 50"' })
    expect(parseHexdump(`${last.replace('00000030', '00000000')}\n${first.replace('00000000', '0000000b')}`)).toEqual({
      problem: 'line 1 holds fewer than 16 bytes, yet another line follows',
    })
    expect(parseHexdump(`${hexdump(hello)}\n0000003a`)).toEqual({ problem: 'the closing offset 0000003a is not the length, 59 bytes' })
  })

  it('rejects a page without a worked example, a marker without its block, and a vector that does not exist', () => {
    expect(protocolDocProblems('# Demo\n\n```\n' + hexdump(hello) + '\n```\n', vectors)).toEqual([
      'has no worked example (a `<!-- vector: FILE NAME -->` line before a hexdump block)',
    ])
    expect(protocolDocProblems('<!-- vector: demo.json reply -->\n\nThe bytes:\n', vectors)).toEqual(['line 1 (demo.json reply): no fenced block follows the marker'])
    expect(protocolDocProblems(page('request', hexdump(hello)), vectors)).toEqual(['line 5 (demo.json request): demo.json has no vector request'])
    expect(protocolDocProblems(page('reply', hexdump(hello)).replace('demo.json', 'other.json'), vectors)).toEqual([
      'line 5 (other.json reply): there is no vector file other.json',
    ])
  })
})

describe('readmeExampleProblems', () => {
  const files: Record<string, string> = { 'examples/quick-start.mjs': "// Quick start.\nconsole.log('hi')\n" }
  const read = (path: string): string | undefined => files[path]
  const block = (marker: string, language: string, body: string): string => `${marker}\n\`\`\`${language}\n${body}\`\`\`\n`
  const good = block('<!-- example: examples/quick-start.mjs -->', 'js', files['examples/quick-start.mjs'] ?? '')

  it('passes a README whose js blocks are the files their markers name, and leaves other blocks alone', () => {
    const readme = `# Demo\n\n${good}\n\`\`\`sh\nnpm i x\n\`\`\`\n\n\`\`\`ts\nconst x: number\n\`\`\`\n`
    expect(readmeExampleProblems(readme, read)).toEqual([])
    expect(readmeExampleProblems(good.replace('```js', '```javascript'), read)).toEqual([])
  })

  it('rejects a js block without a marker, a block that differs, and a marker naming no file', () => {
    expect(readmeExampleProblems("```js\nconsole.log('hi')\n```\n", read)).toEqual([
      'line 1: a js block without a <!-- example: examples/<name>.mjs --> line before it',
    ])
    expect(readmeExampleProblems(good.replace("'hi'", "'ho'"), read)).toEqual([
      'line 2: the block differs from examples/quick-start.mjs from its line 2 (block: "console.log(\'ho\')", file: "console.log(\'hi\')")',
    ])
    expect(readmeExampleProblems(good.replace('quick-start', 'other'), read)).toEqual(['line 1: examples/other.mjs does not exist'])
  })

  it('rejects a marker with no js block after it', () => {
    expect(readmeExampleProblems('<!-- example: examples/quick-start.mjs -->\n\nSome text.\n', read)).toEqual([
      'line 1: the marker for examples/quick-start.mjs has no js block after it',
    ])
    expect(readmeExampleProblems(block('<!-- example: examples/quick-start.mjs -->', 'ts', 'x\n'), read)).toEqual([
      'line 1: the marker for examples/quick-start.mjs is followed by a ts block, not js',
    ])
  })
})
