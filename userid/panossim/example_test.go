package panossim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/kubedag/kubedag/userid/panossim"
)

// Example registers an IP-tag mapping over the raw XML API and reads it back.
func Example() {
	srv, err := panossim.Start(panossim.Config{Capacity: 1000}, false, "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	call := func(v url.Values) string {
		resp, err := http.PostForm(srv.URL+"/api/", v)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	keyAnswer := call(url.Values{"type": {"keygen"}, "user": {"admin"}, "password": {"admin"}})
	key := keyAnswer[strings.Index(keyAnswer, "<key>")+5 : strings.Index(keyAnswer, "</key>")]

	fmt.Println(call(url.Values{"type": {"user-id"}, "key": {key}, "cmd": {
		`<uid-message><version>2.0</version><type>update</type><payload><register>` +
			`<entry ip="10.1.2.3"><tag><member timeout="3600">k8s.ns_demo</member></tag></entry>` +
			`</register></payload></uid-message>`}}))
	fmt.Println(call(url.Values{"type": {"op"}, "key": {key}, "cmd": {
		`<show><object><registered-ip><all/></registered-ip></object></show>`}}))
	fmt.Println(srv.Sim.Registered())
	// Output:
	// <response status="success"><result><uid-response><version>2.0</version><payload><unregister> </unregister><register> </register></payload></uid-response></result></response>
	// <response status="success"><result><entry ip="10.1.2.3" from_agent="0" persistent="1"><tag><member>k8s.ns_demo</member></tag></entry><count>1</count></result></response>
	// map[10.1.2.3:[k8s.ns_demo]]
}
