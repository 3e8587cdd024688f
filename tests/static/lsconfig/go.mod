module chat-sentiment/lsconfig

go 1.21

require github.com/breml/logstash-config v0.5.3
