// The Go modules whose CustomResourceDefinitions `kofsim up --api real` installs (see sources.tsv for the
// directory of each). Nothing is built from them: build.sh downloads each through the Go module proxy and
// checks its hash against go.sum before extract.py copies the CRDs into .tools/kube/crds/.
module kofsim/realkube/crds

go 1.26.0

require (
	github.com/K0rdent/kcm v1.10.0
	github.com/fluxcd/source-controller v1.8.5
	github.com/grafana/grafana-operator/v5 v5.13.0
	github.com/projectsveltos/addon-controller v0.45.0
	github.com/projectsveltos/libsveltos v0.45.0
)
