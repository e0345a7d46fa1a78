import { connectDocker, listMarkers, resumeLeftovers } from '../docker/index.js';

/**
 * Resumes containers that a killed owb left stopped or paused (found by their markers in the state
 * folder). Every owb command calls this first, so a SIGKILL inside a backup window costs at most the time
 * until the next owb run. Returns one-line messages to show; never throws.
 */
export async function resumeLeftContainers(stateDir: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  if (listMarkers(stateDir).length === 0) return [];
  try {
    const docker = await connectDocker({ env });
    const outcomes = await resumeLeftovers(docker, stateDir);
    return outcomes.flatMap((o) => {
      if (o.outcome === 'resumed') return [`resumed container ${o.containerName}, left ${o.action} by owb process ${o.ownerPid} that did not finish`];
      if (o.outcome === 'failed') return [`could not resume container ${o.containerName} left ${o.action} by an earlier run: ${o.error ?? 'unknown error'}`];
      return [];
    });
  } catch (err) {
    return [`containers may have been left stopped by an earlier run, but Docker is unreachable: ${(err as Error).message}`];
  }
}
