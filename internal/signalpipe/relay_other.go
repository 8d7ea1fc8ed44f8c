//go:build !(linux && amd64)

package signalpipe

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// relayed is what Notify handed to os/signal, for Reset.
var relayed struct {
	sync.Mutex
	chans []chan<- os.Signal
}

// Notify relays each of sigs to c through os/signal: there is no
// assembly handler for this processor.
func Notify(c chan<- os.Signal, sigs ...syscall.Signal) error {
	if err := check(sigs, relayable); err != nil {
		return err
	}
	relayed.Lock()
	defer relayed.Unlock()
	osNotify(c, sigs)
	relayed.chans = append(relayed.chans, c)
	return nil
}

// Reset stops relaying to every channel Notify was given.
func Reset() error {
	relayed.Lock()
	defer relayed.Unlock()
	for _, c := range relayed.chans {
		signal.Stop(c)
	}
	relayed.chans = nil
	return nil
}

// Stop relays nothing more to c.
func Stop(c chan<- os.Signal) {
	signal.Stop(c)
}

// Ignore drops each of sigs, through os/signal (see osIgnore).
func Ignore(sigs ...syscall.Signal) error {
	if err := check(sigs, ignorable); err != nil {
		return err
	}
	osIgnore(sigs)
	return nil
}
