// karp's client: a connection from the given local address, request `whoami` with the id.
import { connect } from '@proto/karp'
import type { Answer, ScaleProtocol } from '../protocol.ts'
import { connectedSocket, localEnd } from '../protocol.ts'

export const karp: ScaleProtocol = {
  name: 'karp',
  backend: 'karp.mjs',
  mode: 'tcp',
  async connect(port, localAddress) {
    const socket = await connectedSocket(port, localAddress)
    const local = localEnd(socket)
    const client = await connect({ socket })
    return {
      async request(id) {
        const reply = await client.request('whoami', id)
        return { answer: JSON.parse(reply.text()) as Answer, local }
      },
      close: () => client.close(),
    }
  },
}
