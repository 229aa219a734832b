// Go's net: the reference echo server of bench/net, one goroutine per connection.
package main

import (
	"net"
	"os"
	"time"
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		panic(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			time.Sleep(5 * time.Millisecond) // EMFILE and the like: back off, as net/http does
			continue
		}
		go echo(c)
	}
}
