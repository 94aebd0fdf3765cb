// The client of the framing line backend: one id per line out, one JSON answer per line back.
import { FramedConnection, LineDecoder, encodeLine } from '@proto/framing'
import type { PeerInfo } from '@proto/framing'
import type { Answer, ScaleProtocol } from '../protocol.ts'
import { connectedSocket, localEnd } from '../protocol.ts'

export const framing: ScaleProtocol = {
  name: 'framing Listener',
  backend: 'framing.mjs',
  mode: 'tcp',
  async connect(port, localAddress) {
    const socket = await connectedSocket(port, localAddress)
    const local: PeerInfo = localEnd(socket)
    const conn = new FramedConnection(socket, { decoder: new LineDecoder() })
    const answers = conn.frames()
    return {
      async request(id) {
        await conn.write(encodeLine(id))
        const next = await answers.next()
        if (next.done === true) throw new Error(`the connection closed before ${id} was answered`)
        return { answer: JSON.parse(next.value.toString('utf8')) as Answer, local }
      },
      async close() {
        await conn.end()
        conn.destroy()
      },
    }
  },
}
