// The page's script: the browser build of @proto/krpc/client, which sends FormData with fetch.
// It calls a few methods, uploads a file it makes and any file picked in the input, and tells
// the server what it saw (examples/browser.mjs prints it).
import { connect, isBinaryResult } from '@proto/krpc/client'

const log = document.querySelector('#log')
const seen = []
const show = (line) => {
  seen.push(line)
  log.textContent += `${line}\n`
}
const hex = (buffer) => [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, '0')).join('')

const client = await connect({ url: '/rpc' }) // relative to the page: the same origin serves KRPC

show(`add(2, 3) = ${await client.call('add', [2, 3])}`)
show(await client.methods.greet.hello('browser'))

// File arguments: a File (what <input type="file"> picks), a Blob or a Uint8Array. The server's
// method reads it as a stream; here it hashes it, and the page compares with its own hash.
async function upload(file) {
  const { name, size, sha256 } = await client.call('upload', [file])
  const local = hex(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()))
  show(`uploaded ${name}: ${size} bytes, sha256 ${sha256 === local ? 'matches' : 'differs'}`)
}
const made = new Uint8Array(1_048_576)
for (let i = 0; i < made.length; i += 65_536) crypto.getRandomValues(made.subarray(i, i + 65_536))
await upload(new File([made], 'made-in-the-page.bin', { type: 'application/octet-stream' }))
document.querySelector('input[type=file]').addEventListener('change', async (event) => {
  for (const file of event.target.files) await upload(file)
})

// A method that returns bytes sends a binary reply: a BinaryResult, read with bytes() or stream().
const reply = await client.call('reverse', [new Uint8Array([1, 2, 3])])
if (isBinaryResult(reply)) show(`binary reply: ${[...(await reply.bytes())].join(',')}`)

// A failure is a RemoteError: match on err.code; rpcCode is the KRPC error code.
try {
  await client.call('nosuch')
} catch (err) {
  show(`nosuch: ${err.message} (${err.code}, ${err.rpcCode})`)
}

await client.call('report', [seen])
show('done')
