// krpc's calls as HTTP requests from the given local address. krpc's own client cannot bind a
// local address (it connects through its agent), so this one speaks the wire form itself: a POST
// of the `json` field, url-encoded, on a keep-alive connection (spec §1).
import http from 'node:http'
import type { Answer, ScaleProtocol } from '../protocol.ts'
import { localEnd } from '../protocol.ts'

export const krpc: ScaleProtocol = {
  name: 'krpc',
  backend: 'krpc.mjs',
  mode: 'http',
  connect(port, localAddress) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress })
    return Promise.resolve({
      request(id) {
        const body = new URLSearchParams({ json: JSON.stringify({ method: 'whoami', params: [id] }) }).toString()
        return new Promise((resolve, reject) => {
          const request = http.request(
            {
              host: '127.0.0.1',
              port,
              path: '/',
              method: 'POST',
              agent,
              headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
            },
            (response) => {
              const local = localEnd(response.socket)
              const chunks: Buffer[] = []
              response.on('data', (chunk: Buffer) => chunks.push(chunk))
              response.on('error', reject)
              response.on('end', () => {
                try {
                  const text = Buffer.concat(chunks).toString('utf8')
                  if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode ?? '?'} for ${id}: ${text}`)
                  const reply = JSON.parse(text) as { result?: Answer; error?: unknown }
                  if (reply.result === undefined) throw new Error(`no result for ${id}: ${text}`)
                  resolve({ answer: reply.result, local })
                } catch (err) {
                  reject(err instanceof Error ? err : new Error(String(err)))
                }
              })
            },
          )
          request.on('error', reject)
          request.end(body)
        })
      },
      close() {
        agent.destroy()
        return Promise.resolve()
      },
    })
  },
}
