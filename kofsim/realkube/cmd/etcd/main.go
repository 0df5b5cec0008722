// etcd built from the published go.etcd.io/etcd/server/v3 module at the version k8s.io/kubernetes pins
// (see ../../go.mod): the upstream entry point is etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
