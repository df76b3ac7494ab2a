// Command hello is the small program the image tests build.
package main

import "fmt"

func main() { fmt.Println("hello from the image") }
