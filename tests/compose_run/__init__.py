"""`make services`: the compose files run, without a container engine.

For docker-compose.yml and docker-compose.prod.yml (production with generated secrets),
every service built from our image runs its entrypoint and command with exactly the
environment `compose config` resolves, as the image's user, in a root file system built
from ops/docker/Dockerfile's runtime stage; its own health check must pass. Redis runs
its service's own command and health check on this machine's redis-server; PostgreSQL
and Mailpit are stand-ins. All on loopback. Then production's refusals: the example env
file's placeholders (`up` as a whole, and each container alone), a missing required
variable.

  image.py, dockerfile.py   the image: the runtime stage on an overlay of this machine's root
  container.py, launch.py   one service's container, and `docker exec` for its health check
  standins.py               redis's "image", postgres, mailpit
  project.py                one compose file, in depends_on order
  envfile.py                production's env file, as an operator fills in the example
  placeholders.py, refusals.py   what production must refuse
  checkout.py               what development mounts at /app
  __main__.py               the namespaces, the runs, the tables

Not covered (a real engine is needed): building with Docker itself (the base image, the
build stage's pip run inside it), the real redis, postgres and mailpit images and their
entrypoints, compose networking and published ports, restart policies, init (tini) as
PID 1, resource limits, stop signals and grace periods.
"""
