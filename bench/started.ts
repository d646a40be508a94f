// Preloaded (node --import) into each listener the swarm bench spawns: notes the moment
// node had booted and began loading the listener's own code, so that node's start-up
// under N-way contention can be told apart from the listener's work.
import { writeFileSync } from 'node:fs'

const file = process.env.PC_BENCH_STARTED
if (file) writeFileSync(file, String(performance.timeOrigin + performance.now()))
