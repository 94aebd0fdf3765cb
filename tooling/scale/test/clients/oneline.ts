// oneline's client: a connection from the given local address per request, since a server serves
// one client at a time and the others wait their turn.
import { connect } from '@proto/oneline'
import type { Answer, ScaleProtocol } from '../protocol.ts'
import { connectedSocket, localEnd } from '../protocol.ts'

export const oneline: ScaleProtocol = {
  name: 'oneline',
  backend: 'oneline.mjs',
  mode: 'tcp',
  requestsPerConnection: 1,
  oneClientAtATime: true,
  async connect(port, localAddress) {
    const socket = await connectedSocket(port, localAddress)
    const local = localEnd(socket)
    const client = await connect({ socket })
    return {
      async request(id) {
        const [line] = await client.request(id)
        if (line === undefined) throw new Error(`no answer line for ${id}`)
        return { answer: JSON.parse(line) as Answer, local }
      },
      close: () => client.close(),
    }
  },
}
